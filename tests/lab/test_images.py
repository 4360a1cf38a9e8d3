"""How `build --flavour ...` schedules a cold build, without a VM: stages stubbed, their order and overlap recorded."""

import threading
import time

from tests.lab import images
from tests.lab.recipe import parse_flavours


def test_a_cold_build_bakes_each_flavour_after_its_base_and_never_more_than_two_vms_at_once(monkeypatch):
    events, lock = [], threading.Lock()
    running = {"now": 0, "most": 0}
    built = set()

    def record(what):
        with lock:
            events.append(what)

    def build_base(flavour):
        record(("base", flavour.label))
        time.sleep(0.05)

    def build(flavour):
        with lock:
            running["now"] += 1
            running["most"] = max(running["most"], running["now"])
        record(("bake", flavour.label))
        time.sleep(0.05)
        built.add(flavour.label)
        with lock:
            running["now"] -= 1
        return flavour.label

    monkeypatch.setattr(images, "cached_image", lambda flavour: flavour.label if flavour.label in built else None)
    monkeypatch.setattr(images, "_build_base", build_base)
    monkeypatch.setattr(images, "build", build)
    monkeypatch.setattr(images.qemu, "require_tools", lambda *tools: None)

    flavours = parse_flavours("bookworm,trixie,forky,forky:nopython")
    assert images.build_all(flavours) == ["bookworm", "trixie", "forky", "forky:nopython"]
    assert running["most"] == 2
    order = [label for kind, label in events if kind == "bake"]
    assert order.index("forky") < order.index("forky:nopython")
    for label in ("bookworm", "trixie", "forky"):
        assert events.index(("base", label)) < events.index(("bake", label))


def test_a_warm_cache_builds_nothing_side_by_side(monkeypatch):
    monkeypatch.setattr(images, "cached_image", lambda flavour: flavour.label)
    monkeypatch.setattr(images, "_build_base", lambda flavour: (_ for _ in ()).throw(AssertionError("base built")))
    monkeypatch.setattr(images, "build", lambda flavour: flavour.label)
    assert images.build_all(parse_flavours("bookworm,forky:nopython")) == ["bookworm", "forky:nopython"]
