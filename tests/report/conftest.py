# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

def pytest_configure(config):
    config.addinivalue_line("markers", "report: runs ansible-playbook on the controller against a fake fleet (no lab)")
