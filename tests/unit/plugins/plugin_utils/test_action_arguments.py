# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The action plugins refuse bad arguments exactly as the modules do: the bad input corpus's argument cases."""

from __future__ import annotations

import os
import re

import pytest
import yaml

from ansible_collections.snapfleet.snapd.plugins.plugin_utils._shm_action import validated_arguments

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "integration", "bad_input",
                      "corpus.yml")
# the words of ansible's argument validation, which AnsibleModule and the action plugins share
VALIDATION_WORDS = re.compile(r"^\^?(value of |Unsupported parameters|argument '|parameters are mutually|one of the "
                              r"following|missing required|\w+ is True but|elements of|dictionary requested|"
                              r"in the sub parameter|got: )")
with open(CORPUS, encoding="utf-8") as corpus_file:
    CASES = [case for case in yaml.safe_load(corpus_file)["bad_input_cases"]
             if case["module"] != "shm_lint" and VALIDATION_WORDS.match(case["expect"].split("|")[0])]


def test_the_corpus_has_argument_cases_for_each_module():
    assert {case["module"] for case in CASES} == {"shm_connection", "shm_info", "shm_verify"}
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_the_action_plugin_refuses_a_bad_argument_with_the_modules_words(case):
    arguments, message = validated_arguments(case["module"], case["args"], "snapfleet.snapd." + case["module"])
    assert arguments is None
    assert re.search(case["expect"], message), message


def test_good_arguments_come_back_validated_with_the_defaults():
    arguments, message = validated_arguments("shm_connection", {"plug": "a:b", "slot": "c:d"}, "shm_connection")
    assert message is None
    assert (arguments["plug"], arguments["state"], arguments["transport"], arguments["timeout"]) == (
        "a:b", "connected", "auto", 300.0)
