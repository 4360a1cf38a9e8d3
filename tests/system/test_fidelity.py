"""Issues 12 and 20 on real snapd: gadget-made connections, dropped declarations after snapd's warning is gone, and
confinement and profiles, judged through snapd's API on every lab flavour at once.

One fleet of three hosts: lab1 bookworm (snapd 2.57, the module runs with Python), lab2 trixie (snapd 2.68) and
lab3 forky (snapd 2.77), where the action plugin uses `snap debug api`; every step runs on all three, with
transport auto. The guests' own Python edits snapd's state and reads its socket for the checks, so the
Python-less variant of a flavour is not one of them. Set up on each host:

- three snaps of our own, packed here: shm-hooked (strict, with a `remove` hook, so snapd writes the hook's
  profile), shm-devmode (installed --devmode) and shm-classic (installed --classic), each plugging into
  shm-provider:shmem; and shm-private's private plug wrongly connected to shm-provider:shmem as well;
- two snaps of issue 20, packed from tests/system/snaps/: shm-sysfiles, whose app holds a system-files plug on
  /dev/shm paths (connected to the system) beside a shared-memory plug (connected to shm-provider:shmem), and
  shm-hooky, whose private plug is bound only to its `remove` hook (connected to the system slot), not to its app;
- shm-consumer:shmem connected to shm-provider:shmem, then marked made by the gadget (`by-gadget` and `auto` in
  /var/lib/snapd/state.json, edited while snapd is stopped: without a model assertion there is no other way to
  get one), and snapd's warnings about shm-broken removed, as if the 28 days had passed.

Run it under the lab lock (after `make build`):
flock /tmp/snapfleet-lab.lock .venv/bin/python -m pytest -m lab tests/system/test_fidelity.py
"""

import json
import shlex
from pathlib import Path

import pytest
import yaml

from tests.system.conftest import lab_fleet, run_playbook
from tests.lab.images import pack_snap

pytestmark = pytest.mark.lab

HOSTS = {"lab1": "bookworm", "lab2": "trixie", "lab3": "forky"}
PROVIDER = "shm-provider:shmem"
GADGET = "shm-consumer:shmem"
PRIVATE = "shm-private:shared-memory"
OURS = ("shm-hooked", "shm-devmode", "shm-classic", "shm-sysfiles")
# the desired state of the gadget test: our snaps and the private plug's own /dev/shm, not the gadget's pair
WIRING = [{"plug": "%s:shmem" % snap, "slot": PROVIDER} for snap in OURS] + [{"plug": PRIVATE}]
# issue 20's snaps, packed from their folders here at test time
SNAP_FOLDERS = Path(__file__).resolve().parent / "snaps"
PROFILES = "/var/lib/snapd/apparmor/profiles"
HOOK_PROFILE = PROFILES + "/snap.shm-hooked.hook.remove"
UPDATE_NS_PROFILE = PROFILES + "/snap-update-ns.shm-private"
SYSFILES_PROFILE = PROFILES + "/snap.shm-sysfiles.run"
HOOKY_PROFILE = PROFILES + "/snap.shm-hooky.hook.remove"
HOOKY_UPDATE_NS_PROFILE = PROFILES + "/snap-update-ns.shm-hooky"


def snap_yaml(name, confinement, hook=False):
    document = {
        "name": name, "version": "1.0", "summary": "issue 12 lab snap", "description": "Plugs into shm-provider.",
        "base": "bare", "confinement": confinement, "grade": "devel", "architectures": ["amd64"],
        "apps": {"run": {"command": "bin/run"}},
        "plugs": {"shmem": {"interface": "shared-memory", "shared-memory": "lab-shm"}},
    }
    if hook:
        document["hooks"] = {"remove": {}}
    return yaml.safe_dump(document, sort_keys=False)


def make_snap(folder, name, confinement, hook=False):
    """A snap folder whose app and hook are never run (base bare has no shell): snapd only needs them to exist."""
    for path, text in (("meta/snap.yaml", snap_yaml(name, confinement, hook)), ("bin/run", "#!/bin/sh\nexit 0\n")) + (
            (("meta/hooks/remove", "#!/bin/sh\nexit 0\n"),) if hook else ()):
        target = folder / name / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        if path != "meta/snap.yaml":
            target.chmod(0o755)
    packed = folder / (name + ".snap")
    pack_snap(folder / name, packed)
    return packed


# a GET on snapd's socket from inside the guest, the same on both snapd versions (2.57 has no `snap debug api`)
API_GET = ("python3 -c 'import http.client, socket, sys\n"
           "c = http.client.HTTPConnection(\"localhost\")\n"
           "c.sock = socket.socket(socket.AF_UNIX)\n"
           "c.sock.connect(\"/run/snapd.socket\")\n"
           "c.request(\"GET\", sys.argv[1])\n"
           "sys.stdout.write(c.getresponse().read().decode())' ")

# snapd stopped (socket and service) while its state is edited; then started and waited for
MAKE_GADGET_CONNECTION = r"""
set -e
systemctl stop snapd.socket snapd.service
python3 - <<'EOF'
import json
path = "/var/lib/snapd/state.json"
with open(path) as handle:
    state = json.load(handle)
conn = state["data"]["conns"]["shm-consumer:shmem shm-provider:shmem"]
conn["auto"] = True
conn["by-gadget"] = True
state["warnings"] = [w for w in state.get("warnings") or [] if "shm-broken" not in w.get("message", "")]
with open(path, "w") as handle:
    json.dump(state, handle)
EOF
systemctl start snapd.socket snapd.service
for i in $(seq 120); do snap connections >/dev/null 2>&1 && exit 0; sleep 1; done
exit 1
"""


def api(fleet, host, path):
    """snapd's `result` for GET path on host, read straight from its socket."""
    return json.loads(fleet.run(host, API_GET + shlex.quote(path)))["result"]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    # a SIGTERM (a job's timeout) unwinds like ^C (conftest's sigterm_stops_the_fleets), so lab_fleet stops the VMs
    yield from _fleet(tmp_path_factory)


def _fleet(tmp_path_factory):
    work = tmp_path_factory.mktemp("fidelity")
    packed = {"shm-hooked": (make_snap(work, "shm-hooked", "strict", hook=True), "--dangerous"),
              "shm-devmode": (make_snap(work, "shm-devmode", "devmode"), "--devmode --dangerous"),
              "shm-classic": (make_snap(work, "shm-classic", "classic"), "--classic --dangerous")}
    for name in ("shm-sysfiles", "shm-hooky"):
        pack_snap(SNAP_FOLDERS / name, work / (name + ".snap"))
        packed[name] = (work / (name + ".snap"), "--dangerous")
    with lab_fleet(len(HOSTS), work / "run", flavour=",".join(HOSTS.values())) as booted:
        assert {host: booted.hosts[host]["snapd_flavour"] for host in HOSTS} == HOSTS

        def prepare(host):
            with booted.guest(host) as guest:
                for name, (path, flags) in packed.items():
                    guest.put(path, "/root/%s.snap" % name)
                    guest.run("snap install %s /root/%s.snap" % (flags, name), timeout=900)
                for plug in ["%s:shmem" % snap for snap in OURS] + [GADGET, PRIVATE]:
                    guest.run("snap connect %s %s" % (plug, PROVIDER), timeout=900)
                # to the system's slots: system-files, and the private plug's own /dev/shm (a no-op if auto-connected)
                for plug in ("shm-sysfiles:sysfiles", "shm-hooky:shmem"):
                    guest.run("snap connect %s" % plug, timeout=900)
                guest.run(MAKE_GADGET_CONNECTION, timeout=900)

        booted.on_every_host(prepare)
        booted.work = work
        yield booted


@pytest.fixture(scope="module")
def play(fleet, installed_collection):
    """Run tasks (each registering its result) on both hosts; {host: {register name: result}}."""
    def run(tasks):
        names = [task["register"] for task in tasks]
        keep = {"name": "Keep the results on the controller", "delegate_to": "localhost", "become": False,
                "ansible.builtin.copy": {"content": "{{ {%s} | to_json }}" % ", ".join("%r: %s" % (n, n) for n in names),
                                         "dest": "{{ out }}.{{ inventory_hostname }}", "mode": "0644"}}
        playbook = [{"name": "issue 12 on the lab", "hosts": "lab", "gather_facts": False, "become": True,
                     "tasks": [dict(task, ignore_errors=True) for task in tasks] + [keep]}]
        path = fleet.work / "play.yml"
        path.write_text(yaml.safe_dump(playbook, sort_keys=False))
        out = fleet.work / "results"
        done = run_playbook(path, [fleet.inventory], "-e", "out=%s" % out, collections=installed_collection,
                            cwd=fleet.work)
        assert done.rc == 0, done.tail()
        return {host: json.loads((fleet.work / ("results." + host)).read_text()) for host in HOSTS}
    return run


def verify(register, **args):
    return {"name": register, "snapfleet.snapd.shm_verify": args, "register": register}


def errors(result):
    return sorted((f["code"], f["subject"]) for f in result["findings"] if f["severity"] == "error")


def apparmor_findings(result):
    return sorted((f["code"], f["subject"]) for f in result["findings"] if f["code"].startswith("apparmor"))


# --- confinement and profiles (point 6) --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def audit(play):
    """shm_verify's connections and AppArmor checks of the fleet as set up, run once for the tests that judge it."""
    return play([verify("audit", connections=WIRING + [{"plug": GADGET, "slot": PROVIDER}],
                        checks=["connections", "apparmor"])])


def test_devmode_and_classic_snaps_give_no_apparmor_finding_and_a_private_plug_on_an_app_slot_one_finding(fleet, audit):
    for host in HOSTS:
        result = audit[host]["audit"]
        assert not result.get("failed"), result
        assert errors(result) == [("connection-unexpected", "plug " + PRIVATE), ("private-to-app-slot", "plug " + PRIVATE)]
        assert apparmor_findings(result) == []
        # what snapd says and wrote: the two snaps are devmode and classic, their profiles complain, the private
        # plug is connected to the app slot, the hook and the update-ns profiles hold interface rules
        assert api(fleet, host, "/v2/snaps/shm-devmode")["devmode"] is True
        assert api(fleet, host, "/v2/snaps/shm-classic")["confinement"] == "classic"
        established = api(fleet, host, "/v2/connections?interface=shared-memory")["established"]
        assert {"snap": "shm-provider", "slot": "shmem"} in [c["slot"] for c in established
                                                              if c["plug"] == {"snap": "shm-private", "plug": "shared-memory"}]
        for snap in ("shm-devmode", "shm-classic"):
            # the header, with flags= from snapd 2.68 on and without it on 2.57
            header = fleet.run(host, "head -c 8192 %s/snap.%s.run | grep -m1 '^profile '" % (PROFILES, snap))
            assert "complain" in header or "unconfined" in header, header
        assert int(fleet.run(host, "grep -c '\"/{dev,run}/shm/lab-shm-data\" mrwlk,' %s" % HOOK_PROFILE)) == 1
        assert "/dev/shm/snap.shm-private/" in fleet.run(host, "grep 'mount options' %s" % UPDATE_NS_PROFILE)


TAMPERED = (HOOK_PROFILE, UPDATE_NS_PROFILE, HOOKY_PROFILE, HOOKY_UPDATE_NS_PROFILE)


@pytest.fixture(scope="module")
def tampered(fleet, play):
    """shm_verify's AppArmor checks with profile files edited, then put back: a rule planted in shm-hooked's hook,
    the private mount rule taken out of snap-update-ns.shm-private, and shm-hooky's private rule and mount rule taken
    out of its hook and snap-update-ns profiles. The files only, not what is loaded: shm_verify reads what snapd
    generated."""
    save = " && ".join("cp %s /root/tampered.%d" % (path, index) for index, path in enumerate(TAMPERED))
    tamper = ("{save} && printf '  \"/{{dev,run}}/shm/planted\" mrwlk,\\n' >> {hook} && "
              "sed -i '/mount options=(bind, rw) \\/dev\\/shm\\/snap.shm-private\\//d' {ns} && "
              "sed -i '/^[[:space:]]*\"\\/dev\\/shm\\/\\*/d' {hooky} && "
              "sed -i '/mount options=(bind, rw) \\/dev\\/shm\\/snap.shm-hooky\\//d' {hooky_ns}").format(
                  save=save, hook=HOOK_PROFILE, ns=UPDATE_NS_PROFILE, hooky=HOOKY_PROFILE,
                  hooky_ns=HOOKY_UPDATE_NS_PROFILE)
    restore = " && ".join("cp /root/tampered.%d %s" % (index, path) for index, path in enumerate(TAMPERED))
    fleet.on_every_host(lambda host: fleet.run(host, tamper))
    try:
        return play([verify("tampered", checks=["apparmor"])])
    finally:
        fleet.on_every_host(lambda host: fleet.run(host, restore))


def test_hook_and_update_ns_profiles_are_checked_where_they_exist(tampered):
    for host in HOSTS:
        assert [item for item in apparmor_findings(tampered[host]["tampered"]) if "shm-hooky" not in item[1]] == [
            ("apparmor-rule-missing", "update-ns shm-private"), ("apparmor-rule-unexpected", "hook shm-hooked.remove")]


# --- issue 20: beside another interface's /dev/shm rules, and a plug bound only to a hook ------------------------------

def connections_of(fleet, host, snap):
    """{plug name: [(slot snap, slot name)]} and {plug name: apps} of a snap, as snapd's API gives them."""
    answer = api(fleet, host, "/v2/connections?snap=%s" % snap)
    slots = {}
    for entry in answer.get("established") or []:
        if entry["plug"]["snap"] == snap:
            slots.setdefault(entry["plug"]["plug"], []).append((entry["slot"]["snap"], entry["slot"]["slot"]))
    apps = dict((plug["plug"], plug.get("apps") or []) for plug in answer.get("plugs") or [] if plug["snap"] == snap)
    return slots, apps


def test_a_system_files_plug_on_dev_shm_beside_a_shared_memory_plug_gives_no_apparmor_finding(fleet, audit):
    for host in HOSTS:
        # what snapd says and wrote: both plugs of the one app connected, its profile holds both interfaces' rules
        slots, apps = connections_of(fleet, host, "shm-sysfiles")
        assert slots["shmem"] == [("shm-provider", "shmem")]
        assert [name for snap, name in slots["sysfiles"]] == ["system-files"]
        assert apps == {"sysfiles": ["run"], "shmem": ["run"]}
        for rule in ('"/dev/shm/lab-sysfiles{,/,/**}" rwkl,', '"/dev/shm/lab-sysfiles-ro{,/,/**}" rk,',
                     '"/{dev,run}/shm/lab-shm-data" mrwlk,'):
            assert int(fleet.run(host, "grep -cF %s %s" % (shlex.quote(rule), SYSFILES_PROFILE))) == 1, (host, rule)
        result = audit[host]["audit"]
        assert not result.get("failed"), result
        assert [(f["code"], f["subject"]) for f in result["findings"] if "shm-sysfiles" in f["subject"]] == []
        assert apparmor_findings(result) == []


def test_a_private_plug_bound_only_to_a_hook_is_checked_in_its_hook_and_update_ns_profiles(fleet, audit, tampered):
    for host in HOSTS:
        # snapd binds the plug to no app, connects it to the system slot, and writes its rules for the hook only
        slots, apps = connections_of(fleet, host, "shm-hooky")
        assert apps == {"shmem": []}
        assert [name for snap, name in slots["shmem"]] == ["shared-memory"]
        assert int(fleet.run(host, "grep -c '^[[:space:]]*\"/dev/shm/\\*\\{1,2\\}\" mrwlkix,' %s"
                             % HOOKY_PROFILE)) == 1
        assert "/dev/shm/snap.shm-hooky/" in fleet.run(host, "grep 'mount options' %s" % HOOKY_UPDATE_NS_PROFILE)
        # as snapd wrote them, nothing to say; with the rules taken out, both profiles are found lacking them
        assert [item for item in apparmor_findings(audit[host]["audit"]) if "shm-hooky" in item[1]] == []
        assert [item for item in apparmor_findings(tampered[host]["tampered"]) if "shm-hooky" in item[1]] == [
            ("apparmor-rule-missing", "hook shm-hooky.remove"), ("apparmor-rule-missing", "update-ns shm-hooky")]


# --- dropped declarations once snapd's warning is gone (point 4) -------------------------------------------------------

def test_installed_snap_yaml_shows_what_snapd_dropped_after_its_warning_is_gone(fleet, play):
    results = play([verify("others", connections=WIRING, checks=["warnings", "declarations"]),
                    verify("named", connections=WIRING, private_snaps=["shm-broken"], checks=["warnings", "declarations"])])
    for host in HOSTS:
        # snapd no longer says it: no warning, and the dropped plug and slot are not in its API
        assert [w for w in api(fleet, host, "/v2/warnings?select=all") or [] if "shm-broken" in w["message"]] == []
        broken = api(fleet, host, "/v2/connections?select=all&snap=shm-broken")
        # snapd writes an empty list as null
        assert (broken.get("plugs") or [], broken.get("slots") or []) == ([], [])
        others, named = results[host]["others"], results[host]["named"]
        dropped = [(f["code"], f["subject"], f["evidence"].get("rule")) for f in others["findings"]
                   if "dropped" in f["code"]]
        assert sorted(dropped) == [("unrelated-declaration-dropped", "shm-broken:bad-path", "path-slash"),
                                   ("unrelated-declaration-dropped", "shm-broken:bad-private", "private-with-identifier")]
        assert others["compliant"] is True, errors(others)
        assert errors(named) == [("declaration-dropped", "shm-broken:bad-path"),
                                 ("declaration-dropped", "shm-broken:bad-private")]
        assert named["compliant"] is False


# --- gadget-made connections (point 1) --------------------------------------------------------------------------------

def connection_task(register, check_mode=False, **args):
    return {"name": register, "snapfleet.snapd.shm_connection": dict(connections=WIRING, exclusive=True, **args),
            "register": register, "check_mode": check_mode, "diff": True}


def test_exclusive_keeps_a_gadget_connection_and_verify_flags_one_disconnected_by_hand(fleet, play):
    # the wrong connection of point 6 is gone, so that exclusive has nothing else to do
    fleet.on_every_host(lambda host: fleet.run(host, "snap disconnect %s %s || true" % (PRIVATE, PROVIDER)))
    for host in HOSTS:
        [gadget] = [c for c in api(fleet, host, "/v2/connections?interface=shared-memory")["established"]
                    if c["plug"] == {"snap": "shm-consumer", "plug": "shmem"}]
        assert gadget.get("gadget") is True and not gadget.get("manual")
    results = play([
        connection_task("predicted", check_mode=True),
        connection_task("applied"),
        connection_task("again"),
        connection_task("managed_predicted", check_mode=True, manage_gadget_connections=True),
        # the same through the shared_memory role, which passes manage_gadget_connections to both modules
        {"name": "role", "ansible.builtin.include_role": {"name": "snapfleet.snapd.shared_memory"}, "register": "role",
         "vars": {"shared_memory_connections": WIRING, "shared_memory_exclusive": True,
                  "shared_memory_manage_gadget_connections": "true", "shared_memory_verify_checks": ["connections"]}},
        {"name": "managed", "ansible.builtin.set_fact": {"role_apply": "{{ shared_memory_apply_result }}",
                                                         "role_audit": "{{ shared_memory_verify_result }}"},
         "register": "managed"},
        verify("audit", connections=WIRING, checks=["connections"]),
    ])
    pair = {"plug": GADGET, "slot": PROVIDER, "manual": True, "gadget": True}
    for host in HOSTS:
        steps = results[host]
        for name in ("predicted", "applied", "again"):
            assert not steps[name].get("failed"), steps[name]
            assert (steps[name]["changed"], steps[name]["actions"]) == (False, []), name
            [kept] = [k for k in steps[name]["kept"] if k["plug"] == GADGET]
            assert kept["slot"] == PROVIDER and "made by the gadget snap" in kept["reason"]
        predicted, managed = steps["managed_predicted"], steps["managed"]["ansible_facts"]["role_apply"]
        # the role's verification was told the same: the gadget connection it took over is no error there, while
        # the audit below, without the option, flags it
        assert errors(steps["managed"]["ansible_facts"]["role_audit"]) == []
        assert [(a["action"], a["plug"]) for a in predicted["actions"]] == [("disconnect", GADGET)]
        assert "made by the gadget" in predicted["actions"][0]["reason"]
        assert (managed["actions"], managed["connections"], managed["undesired"]) == (
            predicted["actions"], predicted["connections"], predicted["undesired"])
        assert pair in managed["undesired"]
        # snapd keeps it undesired, by the gadget still
        undesired = api(fleet, host, "/v2/connections?select=all&interface=shared-memory").get("undesired") or []
        assert [c.get("gadget") for c in undesired if c["plug"] == {"snap": "shm-consumer", "plug": "shmem"}] == [True]
        audit = steps["audit"]
        assert errors(audit) == [("gadget-connection-undesired", "plug " + GADGET)]
        [finding] = [f for f in audit["findings"] if f["code"] == "gadget-connection-undesired"]
        assert "snap connect %s %s" % (GADGET, PROVIDER) in finding["message"]
