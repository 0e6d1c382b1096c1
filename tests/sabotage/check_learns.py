"""Run the tests marked ``learns`` with every optimizer step a no-op; exit 1 if any of them passes.

A test that says a model learned must fail when the model learns nothing
(``sitecustomize.py`` beside this file, ``SABOTAGE=1``). This prints one
line per test that still passes, and a summary; pytest's own output goes
to a file, so a log reader does not take its "N failed" for the suite's.
"""

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def main():
    with tempfile.TemporaryDirectory() as tmp:
        report, log = Path(tmp) / "learns.xml", Path(tmp) / "learns.log"
        env = {**os.environ, "SABOTAGE": "1", "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}
        command = [sys.executable, "-m", "pytest", "-q", "-m", "learns", "-p", "no:cacheprovider", f"--junitxml={report}", "tests"]
        with open(log, "w") as out:
            subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
        if not report.exists():
            print(Path(log).read_text()[-3000:])
            print("sabotage check: pytest wrote no report")
            return 1
        cases = ET.parse(report).getroot().iter("testcase")
        survived, failed = [], 0
        for case in cases:
            name = f"{case.get('classname')}::{case.get('name')}"
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
            elif case.find("skipped") is None:
                survived.append(name)
    for name in survived:
        print(f"passes with no training (it must fail): {name}")
    total = failed + len(survived)
    if total == 0:
        print("sabotage check: no test is marked learns")
        return 1
    print(f"sabotage check: {failed} of {total} tests marked learns fail when no weight is trained"
          + ("" if not survived else f"; {len(survived)} still pass"))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
