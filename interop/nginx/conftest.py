"""Shows nginx's own logs next to any failing test of this directory."""

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        nginx = getattr(item, "funcargs", {}).get("nginx")
        if nginx is not None:
            report.sections.append(("nginx error.log (last lines)", nginx.log_tail("error.log")))
            report.sections.append(("nginx access.log (last lines)", nginx.log_tail("access.log")))
    return report
