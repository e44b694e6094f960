"""Credentials never reach a training example.

The fake credentials are assembled from pieces so that no scanner mistakes this file for a leak.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import GitRepo, run_cli

from trainer.mining.secrets import REDACTED, preview, redact, scan, secret_file_kind

AWS_ID = "AKIA" + "Q3EGRJ7ZTHNX5WBM"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzq8Tn2LkWm"  # 40 characters
GITHUB = "ghp_" + "k3Jd8Lq2Zx7Vb4Nm9Pw1Rt6Yh5Gf0Sa2Ce8Ui3"
GITLAB = "glpat-" + "x7Gm2Pq9Rk4Tv8Wz1Nc3"
SLACK = "xoxb-" + "2814059317-4620387151-Zq8RtY3uKp6WmN2vLs9Xc4Bd"
STRIPE = "sk_live_" + "51Hb7Qk2Lz9Wx4Vn8Rt3Pm6Yd"
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" + "." + "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
       + "." + "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
DB_PASSWORD = "Sup3r" + "S3cretPw"
PASSWORD = "correct-horse-" + "battery-9"
ENTROPY = "q8Zt3VbN7mK2pLx9" + "RwY4sJ6dHf1Ge5Ta"
KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" + "BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKB"
GCP_KEY_ID = "8d3f0a9c1b2e4d5f6a7b" + "8c9d0e1f2a3b4c5d6e7f"
ENV_TOKEN = "zx81" + "spectrum48k"
DOTENV_VALUE = "dotenv-" + "Q9w8E7r6T5y4"
DOCKER_TOKEN = "d0cker" + "T0kenValue77"
BEGIN, END = "-----BEGIN " + "PRIVATE KEY-----", "-----END " + "PRIVATE KEY-----"


@pytest.mark.parametrize(("text", "kind", "secret"), [
    (f'AWS_ACCESS_KEY_ID = "{AWS_ID}"', "aws-access-key-id", AWS_ID),
    (f'aws_secret_access_key = "{AWS_SECRET}"', "aws-secret-access-key", AWS_SECRET),
    (f'"private_key_id": "{GCP_KEY_ID}",', "gcp-service-account", GCP_KEY_ID),
    (f"token = '{GITHUB}'", "github-token", GITHUB),
    (f"GITLAB = {GITLAB}", "gitlab-token", GITLAB),
    (f"slack({SLACK!r})", "slack-token", SLACK),
    (f"stripe.api_key = '{STRIPE}'", "stripe-key", STRIPE),
    (f"Authorization: Bearer {JWT}", "jwt", JWT),
    (f'DSN = "postgresql://app:{DB_PASSWORD}@db.internal:5432/prod"', "connection-string", DB_PASSWORD),
    (f'db_password = "{PASSWORD}"', "password-assignment", PASSWORD),
    (f'"password": "{PASSWORD}"', "password-assignment", PASSWORD),
    (f"export API_TOKEN={ENV_TOKEN}", "env-assignment", ENV_TOKEN),
    (f'SESSION_SALT = "{ENTROPY}"', "high-entropy-string", ENTROPY),
    (f"KEY = '''\n{BEGIN}\n{KEY_BODY}\n{END}\n'''", "private-key", f"{BEGIN}\n{KEY_BODY}\n{END}"),
    (f"{BEGIN}\n{KEY_BODY}\n", "private-key", f"{BEGIN}\n{KEY_BODY}\n"),  # no END: to the end of the text
])
def test_each_kind_is_found_with_its_exact_span(text: str, kind: str, secret: str) -> None:
    [finding] = scan(text)
    assert (finding.kind, text[finding.start:finding.end]) == (kind, secret)


@pytest.mark.parametrize("text", [
    'end_token = "<|endoftext|>"\npad_token = "<pad>"\n',
    "MAX_TOKENS = 100000\nAPI_TOKEN = settings.api_token\n",
    'PASSWORD_FIELD = "password"\npassword_hash = "abc12345"\npassword = os.environ["DB_PASSWORD"]\n',
    'url = "postgres://user:${DB_PASSWORD}@localhost/db"\n',
    'name = "getUserNameFromRequestObject"\nsha = "3e5f660f0bba92c442d32b440e3451caaf8066a7"\n',
    "def handle_3_11(request):\n    value = request.get('handle_3_11')\n",
    "xghp_notatoken = 1\n",
    'UNITS = {"secret": "examples", "token": "DB_TOKEN"}\n',
])
def test_ordinary_code_is_not_a_secret(text: str) -> None:
    assert scan(text) == []


def test_redaction_covers_the_part_of_a_secret_inside_a_window() -> None:
    text = f'a = 1\nkey = "{AWS_ID}"\nb = 2\n'
    findings = scan(text)
    cut = text.index(AWS_ID) + 6  # a window edge inside the secret
    assert redact(text, findings, 0, cut) == f'a = 1\nkey = "{REDACTED}'
    assert redact(text, findings, cut) == f'{REDACTED}"\nb = 2\n'
    assert redact(text, findings) == f'a = 1\nkey = "{REDACTED}"\nb = 2\n'


def test_secret_files_by_name_and_previews() -> None:
    assert secret_file_kind(".env") == "env-file" and secret_file_kind("deploy/.env.production") == "env-file"
    assert secret_file_kind(".env.example") is None
    assert secret_file_kind("certs/server.pem") == "key-file" and secret_file_kind("home/.ssh/id_rsa") == "key-file"
    assert secret_file_kind("src/env.py") is None
    assert preview(AWS_ID) == "AKIA… (20 chars)"


def planted_history(root: Path) -> tuple[GitRepo, list[str]]:
    """A history with thirteen kinds of credentials, one of them committed and then removed."""
    repo = GitRepo(root)
    repo.commit({"app/db.py": "import os\n\n\ndef connect():\n    return os.environ['DSN']\n"})
    repo.commit({"app/aws.py": f'AWS_ACCESS_KEY_ID = "{AWS_ID}"\naws_secret_access_key = "{AWS_SECRET}"\n',
                 "app/storage.py": "from app.aws import AWS_ACCESS_KEY_ID\n\n\ndef bucket(name):\n"
                                   "    return (AWS_ACCESS_KEY_ID, name)\n"})
    repo.commit({"app/aws.py": "import os\n\nAWS_ACCESS_KEY_ID = os.environ['AWS_ACCESS_KEY_ID']\n"},
                message="remove the key")
    service_account = {"type": "service_account", "project_id": "demo", "private_key_id": GCP_KEY_ID,
                       "private_key": f"{BEGIN}\n{KEY_BODY}\n{END}\n", "client_email": "sa@demo.iam"}
    repo.commit({"app/gcp.py": f"SERVICE_ACCOUNT = {json.dumps(service_account, indent=4)}\n",
                 "app/tokens.py": f"GITHUB = '{GITHUB}'\nGITLAB = '{GITLAB}'\nSLACK = '{SLACK}'\n"
                                  f"STRIPE = '{STRIPE}'\nJWT = '{JWT}'\n"})
    repo.commit({"app/db.py": f'import os\n\nDSN = "postgresql://app:{DB_PASSWORD}@db.internal:5432/prod"\n'
                              f'db_password = "{PASSWORD}"\nSESSION_SALT = "{ENTROPY}"\n\n\n'
                              "def connect():\n    return DSN\n",
                 "keys/signing.py": f'PEM = """\n{BEGIN}\n{KEY_BODY}\n{END}\n"""\n',
                 ".env": f"DATABASE_URL=postgres://u:p@h/db\nSECRET_TOKEN={DOTENV_VALUE}\n",
                 "Dockerfile": f"FROM python:3.11\nENV API_TOKEN={DOCKER_TOKEN}\nCMD [\"python\"]\n"})
    for i in range(4):
        repo.commit({f"app/feature_{i}.py": f"def feature_{i}(x):\n    return x + {i}\n"})
    secrets = [AWS_ID, AWS_SECRET, GCP_KEY_ID, KEY_BODY, GITHUB, GITLAB, SLACK, STRIPE, JWT, DB_PASSWORD,
               PASSWORD, ENTROPY, DOTENV_VALUE, DOCKER_TOKEN]
    return repo, secrets


def dataset_text(repo: GitRepo) -> str:
    data = repo.root / ".assistant" / "data"
    files = sorted(data.iterdir())
    assert [f.name for f in files] == ["heldout.jsonl", "meta.json", "train.jsonl"]
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


def test_no_planted_secret_reaches_the_dataset(tmp_path: Path) -> None:
    repo, secrets = planted_history(tmp_path / "r")
    proc = run_cli("mine", "--repo", str(repo.root), "--stats")
    assert proc.returncode == 0, proc.stderr
    text = dataset_text(repo)
    for secret in secrets:
        assert secret not in text and secret not in proc.stdout + proc.stderr, secret
        assert json.dumps(secret)[1:-1] not in text  # nor in its JSON-escaped form
    meta = json.loads((repo.root / ".assistant" / "data" / "meta.json").read_text())
    assert meta["stats"]["secrets"] == {
        "aws-access-key-id": 1, "aws-secret-access-key": 1, "connection-string": 1, "env-assignment": 1,
        "env-file": 1, "gcp-service-account": 2, "github-token": 1, "gitlab-token": 1, "high-entropy-string": 1,
        "jwt": 1, "password-assignment": 1, "private-key": 2, "slack-token": 1, "stripe-key": 1}
    assert meta["stats"]["skipped"]["secret"] >= 8
    # What was clean still made it: the dataset is not empty for being careful.
    assert "def feature_3(x):" in text and "def bucket(name):" in text


def test_redact_mode_keeps_the_examples_without_the_secrets(tmp_path: Path) -> None:
    repo, secrets = planted_history(tmp_path / "r")
    repo.write("assistant.toml", '[mine]\nsecrets = "redact"\n')
    proc = run_cli("mine", "--repo", str(repo.root))
    assert proc.returncode == 0, proc.stderr
    text = dataset_text(repo)
    assert all(secret not in text for secret in secrets)
    assert f'db_password = \\"{REDACTED}\\"' in text
    meta = json.loads((repo.root / ".assistant" / "data" / "meta.json").read_text())
    assert "secret" not in meta["stats"]["skipped"]
