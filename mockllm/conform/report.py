"""A conformance report as text (one line per check), JSON, or JUnit XML.

The JSON shape is documented in docs/conform.md (``REPORT_VERSION`` counts its changes);
the JUnit XML has one ``testsuite`` of one ``testcase`` per check, a ``failure`` for a failed
check and ``skipped`` for an unsupported one, for CI systems that show test reports.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from .battery import Status
from .runner import Report, Result

__all__ = ["FORMATS", "REPORT_VERSION", "as_json", "as_junit", "as_text", "line", "summary"]

REPORT_VERSION = 1
_LABELS: Mapping[Status, str] = MappingProxyType(
    {Status.PASS: "PASS", Status.FAIL: "FAIL", Status.UNSUPPORTED: "UNSUPPORTED"}
)


def line(result: Result) -> str:
    """``FAIL  stream.id  expected ...; got ...``: one check on one line."""
    return (
        f"{_LABELS[result.status]:<11} {result.name:<23} "
        f"expected {result.expected}; got {result.got}"
    )


def summary(report: Report) -> str:
    """The closing line: counts, and whether the server conforms."""
    counts = ", ".join(f"{report.count(status)} {status.value}" for status in Status)
    verdict = "conforms" if report.passed else "does not conform"
    return f"{report.base_url} ({report.model}) {verdict}: {counts}"


def as_text(report: Report) -> str:
    """One line per check, then the summary."""
    return "\n".join([*map(line, report.results), summary(report)]) + "\n"


def _result_dict(result: Result) -> dict[str, Any]:
    return {
        "name": result.name,
        "status": result.status.value,
        "required": result.required,
        "description": result.description,
        "expected": result.expected,
        "got": result.got,
        "seconds": round(result.seconds, 4),
    }


def as_json(report: Report) -> str:
    """The report as the JSON object docs/conform.md describes."""
    body = {
        "version": REPORT_VERSION,
        "base_url": report.base_url,
        "model": report.model,
        "passed": report.passed,
        "counts": {status.value: report.count(status) for status in Status},
        "checks": [_result_dict(result) for result in report.results],
    }
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def as_junit(report: Report) -> str:
    """The report as JUnit XML: a testsuite ``mockllm conform``, a testcase per check."""
    suites = ET.Element("testsuites", name="mockllm conform")
    suite = ET.SubElement(
        suites,
        "testsuite",
        {
            "name": "mockllm conform",
            "tests": str(len(report.results)),
            "failures": str(report.count(Status.FAIL)),
            "errors": "0",
            "skipped": str(report.count(Status.UNSUPPORTED)),
            "time": f"{sum(r.seconds for r in report.results):.3f}",
        },
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="base_url", value=report.base_url)
    ET.SubElement(properties, "property", name="model", value=report.model)
    for result in report.results:
        group = result.name.split(".")[0]
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": f"conform.{group}", "name": result.name, "time": f"{result.seconds:.3f}"},
        )
        text = f"expected {result.expected}; got {result.got}"
        if result.status is Status.FAIL:
            ET.SubElement(case, "failure", message=result.got, type="nonconformance").text = text
        elif result.status is Status.UNSUPPORTED:
            ET.SubElement(case, "skipped", message=f"unsupported: {result.got}")
        ET.SubElement(case, "system-out").text = text
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


FORMATS: Mapping[str, Callable[[Report], str]] = MappingProxyType(
    {"text": as_text, "json": as_json, "junit": as_junit}
)
