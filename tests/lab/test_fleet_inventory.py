"""The inventory `up` writes, without a VM: groups by flavour, and the Python-less hosts marked."""

from tests.lab.fleet import inventory


def host(name, flavour, python=True, key="/cache/forky/base-1/keys/id_ed25519"):
    return {"name": name, "flavour": flavour, "python": python, "port": 2200 + int(name[-1]),
            "key_file": key, "snapd_version": {"bookworm": "2.57.6", "forky": "2.77.1-2"}[flavour]}


def host_vars(data, group, name):
    return data["all"]["children"]["lab"]["children"][group]["hosts"][name]


def test_python_less_hosts_are_marked_grouped_and_get_no_interpreter():
    data = inventory([host("lab1", "forky"), host("lab2", "forky", python=False)])
    assert host_vars(data, "forky", "lab1")["ansible_python_interpreter"] == "/usr/bin/python3"
    assert host_vars(data, "forky", "lab1")["lab_python"] is True
    python_less = host_vars(data, "forky", "lab2")
    assert python_less["lab_python"] is False
    assert "ansible_python_interpreter" not in python_less
    assert "ansible_python_interpreter" not in data["all"]["vars"]
    assert data["all"]["children"]["nopython"] == {"hosts": {"lab2": None}}


def test_hosts_are_grouped_by_flavour_and_a_fleet_with_python_everywhere_has_no_nopython_group():
    data = inventory([host("lab1", "bookworm", key="/b"), host("lab2", "forky", key="/f")])
    assert list(data["all"]["children"]) == ["lab"]
    assert sorted(data["all"]["children"]["lab"]["children"]) == ["bookworm", "forky"]
    assert host_vars(data, "bookworm", "lab1")["snapd_flavour"] == "bookworm"
    # flavours built separately carry their own keys
    assert host_vars(data, "forky", "lab2")["ansible_ssh_private_key_file"] == "/f"
