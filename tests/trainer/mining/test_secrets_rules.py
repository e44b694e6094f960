"""Every secret-scanner rule, one by one: a credential it must find, and ordinary text it must leave alone.

No credential is written in this file: each is drawn at run time from a seeded generator in the shape the
provider uses (its prefix, alphabet and length), so that no scanner takes this file for a leak.
"""

from __future__ import annotations

import base64
import json
import random
import string
from pathlib import Path

import pytest
from helpers import GitRepo, run_cli

from trainer.mining.secrets import RULES, scan, secret_file_kind

B62 = string.ascii_letters + string.digits
URLSAFE = B62 + "_-"
HEX = "0123456789abcdef"
BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"


def fake(n: int, alphabet: str = B62, seed: str = "") -> str:
    """`n` characters drawn from `alphabet`, the same on every run for the same arguments."""
    rng = random.Random(f"{seed}/{n}/{alphabet}")
    return "".join(rng.choice(alphabet) for _ in range(n))


def b64(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


HF = "hf" + "_" + fake(34, string.ascii_letters)
HF_ORG = "api_org" + "_" + fake(34, string.ascii_letters)
ANTHROPIC = "sk-ant-" + "api03-" + fake(93, URLSAFE) + "AA"
OPENAI_PROJECT = "sk-" + "proj-" + fake(74, URLSAFE) + "T3Blbk" + "FJ" + fake(74, URLSAFE)
OPENAI_LEGACY = "sk-" + fake(20) + "T3Blbk" + "FJ" + fake(20, seed="2")
GOOGLE = "AI" + "za" + fake(35, URLSAFE)
GOOGLE_OAUTH = "GOCSPX" + "-" + fake(28, URLSAFE)
SENDGRID = "SG" + "." + fake(22, URLSAFE) + "." + fake(43, URLSAFE)
TWILIO_KEY = "S" + "K" + fake(32, HEX)
TWILIO_SID = "A" + "C" + fake(32, HEX, seed="sid")
TELEGRAM = "7394028461" + ":" + "AA" + fake(33, URLSAFE)
MAILGUN = "key" + "-" + fake(32, HEX, seed="mg")
MAILGUN_NEW = fake(32, HEX, seed="mg2") + "-" + fake(8, HEX) + "-" + fake(8, HEX, seed="b")
SHOPIFY = "shp" + "at_" + fake(32, HEX, seed="shop")
DIGITALOCEAN = "do" + "p_v1_" + fake(64, HEX)
DATABRICKS = "da" + "pi" + fake(32, HEX, seed="db")
DISCORD = "https://discord.com/api/" + "webhooks/" + "1187349852035694612/" + fake(68, URLSAFE)
AZURE_KEY = fake(86, B62 + "+/") + "=="
AZURE_SAS_SIG = fake(40, B62 + "+/").replace("+", "%2B").replace("/", "%2F") + "%3D"
PYPI = "pypi-" + "AgEIcHlwaS5vcmc" + fake(120, URLSAFE)
NPM = "npm" + "_" + fake(36)
AGE = "AGE-SECRET-" + "KEY-1" + fake(58, BECH32)
BASIC = b64("deploy:" + fake(14, seed="basic"))
BEARER = fake(40, URLSAFE, seed="bearer")
DOCKER_AUTH = b64("ci-bot:" + fake(20, seed="docker"))
YAML_PASSWORD = "p4-" + fake(10, seed="yaml")
PROPERTIES_PASSWORD = "s3!" + fake(10, seed="props")
HEX_32 = fake(32, HEX, seed="hex")
HEX_64_UPPER = fake(64, HEX, seed="hex64").upper()
ENV_TOKEN = "zx81" + "spectrum48k"

SECRETS = [  # (text, kind, the secret's exact span)
    (f"huggingface-cli login --token {HF}\n", "huggingface-token", HF),
    (f"HF_ORG_TOKEN: {HF_ORG}\n", "huggingface-token", HF_ORG),
    (f"ANTHROPIC_API_KEY={ANTHROPIC}\n", "anthropic-key", ANTHROPIC),
    (f"OPENAI_API_KEY={OPENAI_PROJECT}\n", "openai-key", OPENAI_PROJECT),
    (f"openai_key: {OPENAI_LEGACY}\n", "openai-key", OPENAI_LEGACY),
    (f'<script src="https://maps.googleapis.com/maps/api/js?key={GOOGLE}"></script>\n', "google-api-key", GOOGLE),
    (f"maps:\n  key: {GOOGLE}\n", "google-api-key", GOOGLE),
    (f"client_secret: {GOOGLE_OAUTH}\n", "google-oauth-secret", GOOGLE_OAUTH),
    (f"SENDGRID_API_KEY={SENDGRID}\n", "sendgrid-key", SENDGRID),
    (f"keys = [{TWILIO_KEY}]\n", "twilio-key", TWILIO_KEY),
    (f'client = Client("{TWILIO_SID}", auth)\n', "twilio-key", TWILIO_SID),
    (f'bot = Bot(token="{TELEGRAM}")\n', "telegram-bot-token", TELEGRAM),
    (f"curl https://api.telegram.org/bot{TELEGRAM}/getMe\n", "telegram-bot-token", TELEGRAM),
    (f"auth=('api', {MAILGUN})\n", "mailgun-key", MAILGUN),
    (f'MG = "{MAILGUN_NEW}"\n', "mailgun-key", MAILGUN_NEW),
    (f"X-Shopify-Access-Token: {SHOPIFY}\n", "shopify-token", SHOPIFY),
    (f"doctl auth init -t {DIGITALOCEAN}\n", "digitalocean-token", DIGITALOCEAN),
    (f"databricks configure --token {DATABRICKS}\n", "databricks-token", DATABRICKS),
    (f"requests.post('{DISCORD}', json=msg)\n", "discord-webhook", DISCORD),
    (f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={AZURE_KEY};EndpointSuffix=core.windows.net\n",
     "azure-storage-key", AZURE_KEY),
    (f"https://acct.blob.core.windows.net/c/f.csv?sv=2022-11-02&sp=r&sig={AZURE_SAS_SIG}\n",
     "azure-sas-token", AZURE_SAS_SIG),
    (f"twine upload -u __token__ -p {PYPI} dist/*\n", "pypi-token", PYPI),
    (f"//registry.npmjs.org/:_authToken={NPM}\n", "npm-token", NPM),
    (f"# created: 2024-01-01\n{AGE}\n", "age-secret-key", AGE),
    (f'curl -H "Authorization: Basic {BASIC}" https://ci.internal/api\n', "authorization-header", BASIC),
    (f"session.headers.update({{'Authorization': 'Bearer {BEARER}'}})\n", "authorization-header", BEARER),
    (f"GET / HTTP/1.1\r\nauthorization: token {BEARER}\r\n", "authorization-header", BEARER),
    (json.dumps({"auths": {"registry.internal:5000": {"auth": DOCKER_AUTH}}}), "docker-auth", DOCKER_AUTH),
    (f"database:\n  user: app\n  password: {YAML_PASSWORD}\n", "password-assignment", YAML_PASSWORD),
    (f"spring.datasource.password={PROPERTIES_PASSWORD}\r\n", "password-assignment", PROPERTIES_PASSWORD),
    (f'SIGNING_KEY = "{HEX_32}"\n', "hex-token", HEX_32),
    (f"twilio:\n  token: {HEX_32}\n", "hex-token", HEX_32),
    (f"HMAC_KEY={HEX_64_UPPER}\n", "hex-token", HEX_64_UPPER),
    (f"API_TOKEN={ENV_TOKEN}\r\n", "env-assignment", ENV_TOKEN),  # a line of a file with CRLF line ends
]

NOT_SECRETS = [  # (the kind it is a near miss of, ordinary text)
    ("huggingface-token", "from huggingface_hub import hf_hub_download\n"
                          "hf_" + "modelloaderconfigurationhelpersx = 1\n"),
    ("huggingface-token", "HF_TOKEN=hf_" + "x" * 34 + "\n"),
    ("anthropic-key", "prefix = 'sk-ant-api03-'\n"),
    ("openai-key", "# sk-learn-pipeline-for-text-classification-tasks\n"),
    ("openai-key", "OPENAI_API_KEY=sk-" + "proj-" + "x" * 40 + "\n"),
    ("google-api-key", f"AI{'za'}{fake(40, URLSAFE)} is too long for a key\n"),
    ("google-oauth-secret", "GOCSPX-" + "short\n"),
    ("sendgrid-key", "SG.settings.Default = SG.Theme.Dark\n"),
    ("twilio-key", f"TASK{fake(32, HEX)} = 1\nSK{'0' * 32}\n"),
    ("telegram-bot-token", "at 12:30:AAPL rose\nid 1234567:AAshort_value\n"),
    ("mailgun-key", "store = 'key-value-store'\nid = '123e4567-e89b-12d3-a456-426614174000'\n"),
    ("mailgun-key", f"key-{'0' * 32}\n"),
    ("shopify-token", "shpat_123\n"),
    ("digitalocean-token", f"dop_v1_{fake(10, HEX)}\n"),
    ("databricks-token", f"dapi{'0' * 32}\n"),
    ("discord-webhook", "url = f'https://discord.com/api/webhooks/{hook_id}/{hook_token}'\n"),
    ("azure-storage-key", "conn = 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=<your-key>'\n"),
    ("azure-sas-token", "https://acct.blob.core.windows.net/c/f.csv?sv=2022-11-02&sig={sas}\n"),
    ("pypi-token", "pypi-" + "AgEIcHlwaS5vcmc" + "x" * 60 + "\n"),
    ("npm-token", "echo $npm_config_cache $npm_package_version\n"),
    ("age-secret-key", "AGE-SECRET-KEY-1 is how an age identity starts\n"),
    ("authorization-header", 'headers = {"Authorization": f"Bearer {token}"}\n'
                             'curl -H "Authorization: Bearer YOUR_ACCESS_TOKEN"\n'
                             'req.setHeader("Authorization", "Bearer " + token);\n'),
    ("authorization-header", "Authorization: Basic ${CREDENTIALS}\nAuthorization: Basic " + b64("nocolon") + "\n"),
    ("docker-auth", '{"auth": "required", "type": "basic"}\n'),
    ("password-assignment", "password: ${DB_PASSWORD}\npassword: !vault |\npassword: changeme\n"
                            "password: <your-password>\npassword: xxxxxxxx\n"),
    ("password-assignment", 'password: "{{ vault_db_password }}"\npwd: /home/user/app\n'),
    ("password-assignment", "class Login:\n    password: str\n    api_key: SecretStr\n"
                            "const user = {\n  password: process.env.DB_PASSWORD,\n  secret: hashedSecret\n}\n"
                            "    password: get_password(user)\n"),
    ("hex-token", f'commit = "{fake(40, HEX)}"\nsha256 = "{fake(64, HEX)}"\n'),
    ("hex-token", f'hash = "sha256:{fake(64, HEX)}"\n"integrity": "sha512-{fake(86, B62)}=="\n'),
    ("hex-token", f'cache_key = "{HEX_32}"\npublic_key = "{fake(64, HEX)}"\n'
                  'request_id = "123e4567-e89b-12d3-a456-426614174000"\n'),
    ("env-assignment", "API_TOKEN=${API_TOKEN}\r\nMAX_TOKENS=4096\r\nexport SECRET_NAME=app-secret\r\n"),
    ("aws-access-key-id", 'AWS_ACCESS_KEY_ID = "AKIA' + 'IOSFODNN7EXAMPLE"\n'),  # AWS's documented example
]


@pytest.mark.parametrize(("text", "kind", "secret"), SECRETS, ids=[f"{kind}-{i}" for i, (_, kind, _) in
                                                                    enumerate(SECRETS)])
def test_each_rule_finds_its_secret_with_its_exact_span(text: str, kind: str, secret: str) -> None:
    [finding] = scan(text)
    assert (finding.kind, text[finding.start:finding.end]) == (kind, secret)


@pytest.mark.parametrize(("kind", "text"), NOT_SECRETS, ids=[f"{kind}-{i}" for i, (kind, _) in
                                                             enumerate(NOT_SECRETS)])
def test_each_rule_leaves_ordinary_text_alone(kind: str, text: str) -> None:
    assert scan(text) == []


def test_every_rule_has_a_true_and_a_false_case() -> None:
    in_test_secrets = {"gcp-service-account", "aws-access-key-id", "aws-secret-access-key", "github-token",
                       "gitlab-token", "slack-token", "slack-webhook", "stripe-key", "jwt", "connection-string"}
    new = {r.kind for r in RULES} - in_test_secrets
    assert new <= {kind for _, kind, _ in SECRETS}
    assert new <= {kind for kind, _ in NOT_SECRETS}


@pytest.mark.parametrize(("path", "kind"), [
    (".npmrc", "credential-file"), ("web/.npmrc", "credential-file"), (".pypirc", "credential-file"),
    ("home/.netrc", "credential-file"), ("_netrc", "credential-file"), (".git-credentials", "credential-file"),
    ("config/credentials.json", "credential-file"), ("client_secret_123.apps.googleusercontent.com.json",
                                                     "credential-file"),
    (".htpasswd", "credential-file"), (".dockercfg", "credential-file"), ("ci/.docker/config.json", "credential-file"),
    ("kubeconfig", "credential-file"), ("deploy/prod.kubeconfig", "credential-file"),
    ("home/.kube/config", "credential-file"), (".aws/credentials", "credential-file"), (".pgpass", "credential-file"),
    ("infra/terraform.tfstate", "terraform-state"), ("infra/terraform.tfstate.backup", "terraform-state"),
    ("src/npmrc.py", None), ("docs/netrc.md", None), ("app/credentials.py", None), ("app/config.json", None),
    ("tools/tfstate.py", None), ("k8s/kubeconfig.go", None), ("home/.kube/config.example", None),
    ("src/docker/config.json", None),
])
def test_credential_files_by_name(path: str, kind: str | None) -> None:
    assert secret_file_kind(path) == kind


def test_no_new_kind_of_secret_reaches_the_dataset(tmp_path: Path) -> None:
    """Through the real miner: content rules drop examples, files by name are never read."""
    repo = GitRepo(tmp_path / "r")
    repo.commit({"app/main.py": "def main():\n    return 0\n"})
    clients = "".join(f"CLIENT_{i} = {secret!r}\n" for i, (_, _, secret) in enumerate(SECRETS))
    repo.commit({"app/clients.py": f"import os\n\n{clients}\n\ndef client(i):\n    return globals()[i]\n",
                 "deploy/values.yaml": f"db:\n  password: {YAML_PASSWORD}\nhmac:\n  token: {HEX_32}\n",
                 ".npmrc": f"//registry.npmjs.org/:_authToken={NPM}\n",
                 "infra/terraform.tfstate": json.dumps({"outputs": {"key": {"value": HEX_64_UPPER}}})})
    for i in range(4):
        repo.commit({f"app/feature_{i}.py": f"def feature_{i}(x):\n    return x * {i}\n"})
    proc = run_cli("mine", "--repo", str(repo.root))
    assert proc.returncode == 0, proc.stderr
    data = repo.root / ".assistant" / "data"
    text = "\n".join(f.read_text(encoding="utf-8") for f in sorted(data.iterdir()))
    for _, kind, secret in SECRETS:
        assert secret not in text and json.dumps(secret)[1:-1] not in text, kind
    found = json.loads((data / "meta.json").read_text())["stats"]["secrets"]
    assert {"credential-file", "terraform-state", "password-assignment", "hex-token", "openai-key"} <= found.keys()
    assert "def feature_3(x):" in text
