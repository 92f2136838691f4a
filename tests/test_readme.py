"""The README's promises: two set-up commands that CI reads, and a library example that runs."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_has_the_two_setup_commands_and_ci_runs_the_test_one():
    commands = re.findall(r"<!-- (main|test)-command -->\n```bash\n(.+?)\n```", README)
    assert dict(commands) == {"main": "python -m pip install . && python -m tsdyn.sweep",
                              "test": 'python -m pip install ".[test]" && python -m pytest'}
    extracted = subprocess.run(
        ["awk", "/<!-- test-command -->/{f=1; next} f && /^```bash/{g=1; next} g && /^```/{exit} g", "README.md"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert extracted == dict(commands)["test"]
    assert "README.md" in (ROOT / ".ci" / "run").read_text()


def test_library_example_runs():
    (code,) = re.findall(r"```python\n(.+?)```", README, flags=re.S)
    exec(compile(code.replace("steps=800_000", "steps=5_000"), "README example", "exec"), {})
