"""The counts the reliability summary prints (see pytest_terminal_summary in conftest.py)."""

RELIABILITY = {"faults": {}, "bad_input": None, "hostile": {}}
