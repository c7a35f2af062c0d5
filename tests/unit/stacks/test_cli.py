"""``pdn stacks``: argument errors are one clear line; lab runs never touch stacks/."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pdn.errors import InputError
from pdn.stacks import workspace
from pdn.stacks.cli import app

runner = CliRunner()


def test_needs_a_site_or_all() -> None:
    result = runner.invoke(app, ["preview"])
    assert isinstance(result.exception, InputError) and result.exception.exit_code == 2
    assert "--site SITE or use --all" in str(result.exception)


def test_unknown_site_is_rejected() -> None:
    result = runner.invoke(app, ["up", "--site", "jakarta"])
    assert isinstance(result.exception, InputError)
    assert "unknown site jakarta" in str(result.exception)


def test_no_backend_no_login(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    result = runner.invoke(app, ["preview", "--site", "ikn"])
    assert "no Pulumi backend" in str(result.exception)


def test_lab_workspace_copies_project_and_keeps_repo_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("pdn.lab.endpoints")
    ports = {"cikarang": 9101, "batam": 9102, "ikn": 9103, "labuan-bajo": 9104}
    fake.kubeconfig_path = lambda site: tmp_path / f"{site}.yaml"  # type: ignore[attr-defined]
    fake.s3_endpoint = lambda site: f"http://127.0.0.1:{ports[site]}"  # type: ignore[attr-defined]
    fake.s3_region = lambda site: f"id-{site}-1"  # type: ignore[attr-defined]
    bridges = {"ikn": {"ikn": "http://10.250.3.1:9103", "labuan-bajo": "http://10.250.3.1:9104"}}
    fake.bridge_s3_endpoints = lambda site: bridges.get(site, {})  # type: ignore[attr-defined]
    fake.cluster_s3_endpoints = lambda site: bridges.get(site, {})  # type: ignore[attr-defined]
    fake.s3_credentials = lambda site: (f"ak-{site}", f"sk-{site}")  # type: ignore[attr-defined]
    fake.pulumi_env = lambda: {"PULUMI_BACKEND_URL": f"file://{tmp_path}/state"}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pdn.lab.endpoints", fake)
    monkeypatch.setitem(sys.modules, "pdn.lab", types.ModuleType("pdn.lab"))
    sys.modules["pdn.lab"].endpoints = fake  # type: ignore[attr-defined]
    monkeypatch.setenv("PDN_LAB_DIR", str(tmp_path / "lab"))
    monkeypatch.setenv("PDN_CACHE", str(tmp_path / "cache"))
    repo_stack = (workspace.paths.repo_root() / "stacks" / "Pulumi.ikn.yaml").read_text()

    ws = workspace.lab_workspace(["ikn"], tmp_path / "crds")

    assert ws.lab and ws.work_dir == tmp_path / "lab" / "stacks"
    project = yaml.safe_load((ws.work_dir / "Pulumi.yaml").read_text())
    assert (ws.work_dir / project["main"]).resolve() == workspace.paths.repo_root() / "infra"
    config = yaml.safe_load((ws.work_dir / "Pulumi.ikn.yaml").read_text())["config"]
    assert config["pdn:site"] == "ikn" and config["pdn:tenants"]
    assert config["pdn:s3Endpoints"]["batam"] == "http://127.0.0.1:9102"
    # Velero's locations use the stores as the site's pods reach them (its node agents run there).
    assert config["pdn:s3ClusterEndpoints"] == bridges["ikn"]
    assert config["pdn:backup"]["forceDestroy"] is True
    assert "sk-" not in (ws.work_dir / "Pulumi.ikn.yaml").read_text()  # keys go in as secrets later
    assert (workspace.paths.repo_root() / "stacks" / "Pulumi.ikn.yaml").read_text() == repo_stack
    assert ws.policy_config is not None and "127.0.0.1:9103" in ws.policy_config.read_text()
    assert "10.250.3.1:9104" in ws.policy_config.read_text()  # bridge URLs are lab stand-ins too
    assert ws.env["PULUMI_BACKEND_URL"].startswith("file://")
    shims = Path(ws.env["PATH"].split(":")[0])
    assert (shims / "pulumi-resource-pulumi-python").stat().st_mode & 0o111


def test_onboarded_tenants_are_merged_kept_and_never_duplicated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = types.ModuleType("pdn.lab.endpoints")
    fake.kubeconfig_path = lambda site: tmp_path / f"{site}.yaml"  # type: ignore[attr-defined]
    fake.s3_endpoint = lambda site: "http://127.0.0.1:9100"  # type: ignore[attr-defined]
    fake.s3_region = lambda site: "id-lab-1"  # type: ignore[attr-defined]
    fake.bridge_s3_endpoints = lambda site: {}  # type: ignore[attr-defined]
    fake.cluster_s3_endpoints = lambda site: {}  # type: ignore[attr-defined]
    fake.s3_credentials = lambda site: ("ak", "sk")  # type: ignore[attr-defined]
    fake.pulumi_env = lambda: {"PULUMI_BACKEND_URL": f"file://{tmp_path}/state"}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pdn.lab.endpoints", fake)
    monkeypatch.setitem(sys.modules, "pdn.lab", types.ModuleType("pdn.lab"))
    sys.modules["pdn.lab"].endpoints = fake  # type: ignore[attr-defined]
    monkeypatch.setenv("PDN_LAB_DIR", str(tmp_path / "lab"))
    repo = yaml.safe_load((workspace.paths.repo_root() / "stacks" / "Pulumi.ikn.yaml").read_text())["config"]
    own = repo["pdn:tenants"]
    wave = tmp_path / "tenants.yaml"
    new = {
        "name": "Kementerian Kelautan dan Perikanan",
        "kind": "ministry",
        "tier": "high",
        "classification": "internal",
    }
    wave.write_text(yaml.safe_dump({"ikn": [new, {**own[0], "tier": "low"}]}))

    workspace.onboard_lab_tenants(wave)
    workspace.onboard_lab_tenants(wave)  # a re-run adds nothing twice
    ws = workspace.lab_workspace(["ikn"], tmp_path / "crds")
    tenants = yaml.safe_load((ws.work_dir / "Pulumi.ikn.yaml").read_text())["config"]["pdn:tenants"]
    assert tenants == [*own, new]  # the stack's own definition of a tenant wins
    # a later plain `pdn stacks up --lab` keeps them: they live in the lab, not in the run
    tenants = yaml.safe_load(
        (workspace.lab_workspace(["ikn"], tmp_path / "crds").work_dir / "Pulumi.ikn.yaml").read_text()
    )["config"]["pdn:tenants"]
    assert tenants == [*own, new]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("jakarta: []\n", "unknown site 'jakarta'"),
        ("ikn: [{kind: ministry}]\n", "ikn: expected a list of tenants, each with a name"),
        ("- ikn\n", "expected a mapping of site id"),
        ("ikn: [\n", r"tenants\.yaml:2: YAML syntax error"),  # with the line, from pdn.safeload
    ],
)
def test_bad_tenants_file_names_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "tenants.yaml"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as error:
        workspace.read_tenants_file(path)
    assert str(path) in str(error.value)


def test_tenants_option_is_lab_only(tmp_path: Path) -> None:
    result = runner.invoke(app, ["up", "--site", "ikn", "--tenants", str(tmp_path / "t.yaml")])
    assert result.exit_code != 0 and "only works with --lab" in str(result.exception)


def test_the_stacks_are_the_sites_of_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A site the model (PDN_SITES) does not hold has no stack, whatever stacks/ contains."""
    model = yaml.safe_load((workspace.paths.repo_root() / "stacks" / "sites.yaml").read_text())
    assert workspace.stack_sites() == [site["id"] for site in sorted(model["sites"], key=lambda s: s["order"])]
    renamed = tmp_path / "sites.yaml"
    text = (workspace.paths.repo_root() / "stacks" / "sites.yaml").read_text()
    renamed.write_text(text.replace("labuan-bajo", "sorong"))
    monkeypatch.setenv("PDN_SITES", str(renamed))
    assert workspace.stack_sites()[-1] == "sorong" and "labuan-bajo" not in workspace.stack_sites()
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text("labuan-bajo:\n  - {name: Kementerian X}\n")
    with pytest.raises(InputError, match="unknown site 'labuan-bajo'"):
        workspace.read_tenants_file(tenants)
    result = runner.invoke(app, ["preview", "--site", "sorong"])
    assert isinstance(result.exception, InputError) and "no stack file for sorong" in str(result.exception)


def test_lab_up_takes_owed_first_backups_where_velero_runs_and_only_warns_when_it_cannot(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tenant the stack just added gets its first backup now; a store that does not answer is a warning."""
    from pdn.errors import PdnError
    from pdn.stacks import cli

    taken: list[str] = []

    def take(site_id: str, _say: object) -> list[str]:
        taken.append(site_id)
        if site_id == "batam":
            raise PdnError(
                "batam: no first backup for schedule vital-to-cikarang: location to-cikarang is not Available"
            )
        return [f"vital-to-x-{site_id}"]

    monkeypatch.setattr("pdn.backup.velero.is_running", lambda site_id: site_id != "ikn")
    monkeypatch.setattr("pdn.backup.firstbackup.take_first_backups", take)
    cli._first_backups_where_velero_runs(["cikarang", "batam", "ikn"])
    assert taken == ["cikarang", "batam"], "no server, nothing to take: ikn is skipped"
    out = " ".join(capsys.readouterr().out.split())  # as one line, however the console wrapped it
    assert "warning:" in out and "to-cikarang is not Available" in out and "pdn backup server up --site batam" in out


def test_the_program_reads_the_site_model_this_process_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PDN_SITES", "other/sites.yaml")  # relative: the program runs in its own folder
    monkeypatch.setenv("PDN_UNRELATED", "x")
    env = workspace.base_env()
    assert env["PDN_SITES"] == str(tmp_path / "other" / "sites.yaml")
    assert "PDN_UNRELATED" not in env
    monkeypatch.delenv("PDN_SITES")
    assert "PDN_SITES" not in workspace.base_env()
