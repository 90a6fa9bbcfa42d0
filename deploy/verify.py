#!/usr/bin/env python3
"""Checks the deployment files where no container engine or cluster is at hand.

  verify.py dockerfile STAGE   the Dockerfile parses (with Docker's own parser), pins the
                               Rust of rust-toolchain.toml, runs deploy/build.sh (the default
                               target with --no-default-features, the `sandbox` target that
                               docker-compose.yml builds with the default features), copies
                               its output to /, starts a binary that the staged tree holds,
                               as a numeric non-root user that the Kubernetes manifests also
                               use.
  verify.py compose BIN WORK   runs docker-compose.yml's two services as local processes:
                               the sandbox with its command, then `check` and `run` with the
                               groupsync service's command and environment. Volumes become
                               folders under WORK, service names 127.0.0.1, ports free ones.

Needs PyYAML and the `dockerfile` package (.ci/run installs both in .venv-peers).
"""

import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def fail(message):
    sys.exit(f"verify: {message}")


def toolchain_channel():
    text = (ROOT / "rust-toolchain.toml").read_text()
    found = re.search(r'^channel\s*=\s*"([^"]+)"', text, re.M)
    if not found:
        fail("no channel in rust-toolchain.toml")
    return found.group(1)


def stages(commands):
    """The Dockerfile's stages in order, as (name, instructions); an unnamed stage's name
    is None."""
    groups = []
    for c in commands:
        if c.cmd.upper() == "FROM":
            value = list(c.value)
            name = value[2] if len(value) == 3 and value[1].upper() == "AS" else None
            groups.append((name, []))
        if groups:
            groups[-1][1].append(c)
    return groups


def lineage(all_stages, index):
    """The instructions of stage `index` preceded by those of the stages it is built FROM."""
    named = {name: i for i, (name, _) in enumerate(all_stages[:index]) if name}
    chain = []
    while index is not None:
        instructions = all_stages[index][1]
        chain = instructions + chain
        index = named.get(instructions[0].value[0])
    return chain


def builder_of(all_stages, chain):
    """The stage whose /out/ the chain copies to /, and its deploy/build.sh command."""
    copies = [c for c in chain if c.cmd.upper() == "COPY" and list(c.value) == ["/out/", "/"]]
    froms = [f.split("=", 1)[1] for c in copies for f in c.flags if f.startswith("--from=")]
    if not froms:
        fail("the runtime stage does not copy a builder's /out/ to /")
    builds = [s for name, s in all_stages if name == froms[-1]]
    if not builds:
        fail(f"COPY --from={froms[-1]} names no stage")
    runs = [" ".join(c.value) for c in builds[0] if c.cmd.upper() == "RUN"]
    found = [r for r in runs if r.startswith("deploy/build.sh /out")]
    if not found:
        fail(f"the builder stage {froms[-1]} does not run deploy/build.sh /out: {runs}")
    return froms[-1], found[-1].split()[2:]


def manifests(name):
    with open(DEPLOY / "kubernetes" / name) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def pod_users():
    """runAsUser of every pod template in the manifests."""
    deployment = manifests("deployment.yaml")[0]["spec"]["template"]["spec"]
    cronjob = manifests("cronjob.yaml")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return {
        "deployment.yaml": deployment["securityContext"]["runAsUser"],
        "cronjob.yaml": cronjob["securityContext"]["runAsUser"],
    }


def check_dockerfile(stage_dir):
    import dockerfile

    commands = dockerfile.parse_file(str(DEPLOY / "Dockerfile"))
    args = {c.value[0].split("=")[0]: c.value[0].split("=", 1)[1]
            for c in commands if c.cmd.upper() == "ARG" and "=" in c.value[0]}
    if args.get("RUST_VERSION") != toolchain_channel():
        fail(f"Dockerfile ARG RUST_VERSION={args.get('RUST_VERSION')} but "
             f"rust-toolchain.toml pins {toolchain_channel()}")
    all_stages = stages(commands)
    # The default target (the last stage) ships the lean binary.
    runtime = lineage(all_stages, len(all_stages) - 1)
    builder, flags = builder_of(all_stages, runtime)
    if "--no-default-features" not in flags:
        fail(f"the image's builder {builder} must build with --no-default-features: {flags}")
    # The `sandbox` target, which docker-compose.yml's sandbox service builds, has the
    # sandbox command: the default features.
    names = [name for name, _ in all_stages]
    if "sandbox" not in names:
        fail("no `sandbox` stage for docker-compose.yml's sandbox service")
    sandbox_builder, sandbox_flags = builder_of(all_stages, lineage(all_stages, names.index("sandbox")))
    if "--no-default-features" in sandbox_flags:
        fail(f"the sandbox target's builder {sandbox_builder} leaves out the sandbox command")
    with open(DEPLOY / "docker-compose.yml") as f:
        compose = yaml.safe_load(f)["services"]
    if compose["sandbox"].get("build", {}).get("target") != "sandbox":
        fail("docker-compose.yml's sandbox service must build the Dockerfile's `sandbox` target")
    user = [c.value[0] for c in runtime if c.cmd.upper() == "USER"][-1]
    uid = user.split(":")[0]
    if not uid.isdigit() or int(uid) == 0:
        fail(f"USER {user} must be a numeric, non-root uid (Kubernetes' runAsNonRoot checks it)")
    for name, pod_uid in pod_users().items():
        if pod_uid != int(uid):
            fail(f"{name} runs as {pod_uid}, the image as {uid}")
    entrypoint = [c.value for c in runtime if c.cmd.upper() == "ENTRYPOINT"][-1]
    binary = pathlib.Path(stage_dir) / "usr/local/bin" / entrypoint[0]
    if not os.access(binary, os.X_OK):
        fail(f"ENTRYPOINT {entrypoint[0]} is not in the staged tree at {binary}")
    out = subprocess.run([str(binary), "--help"], capture_output=True, text=True, check=True)
    cmd = [c.value[0] for c in runtime if c.cmd.upper() == "CMD"][-1]
    if not re.search(rf"^\s+{cmd}\s", out.stdout, re.M):
        # Strict as soon as the daemon's module is in the tree; before that, `serve` cannot
        # exist and the image is only buildable, not runnable.
        if (ROOT / "src" / "daemon").exists():
            fail(f"CMD {cmd} is not a subcommand of the staged binary:\n{out.stdout}")
        print(f"verify: note: `{cmd}` is not in this build yet (no src/daemon/): the image "
              "builds, but its default command will not run until it is")
    volumes = [v for c in runtime if c.cmd.upper() == "VOLUME" for v in c.value]
    config = tomllib.loads(manifests("configmap.yaml")[0]["data"]["groupsync.toml"])
    store = config.get("store", {}).get("path", "")
    if not any(store.startswith(v.rstrip("/") + "/") for v in volumes):
        fail(f"the ConfigMap's store.path is not on the image's volume {volumes}")
    print(f"Dockerfile: Rust {args['RUST_VERSION']}, builds with deploy/build.sh "
          f"{' '.join(flags)} (target sandbox: {' '.join(sandbox_flags) or 'default features'}), "
          f"runs `{entrypoint[0]} {cmd}` as uid {uid}, volume {volumes}; matches the manifests")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulation:
    """docker-compose.yml's services as processes on 127.0.0.1."""

    def __init__(self, compose, work):
        self.services = compose["services"]
        self.work = pathlib.Path(work)
        self.ports = {}

    def port_for(self, port):
        return self.ports.setdefault(str(port), str(free_port()))

    def mounts(self, service):
        found = {}
        for spec in self.services[service].get("volumes", []):
            volume, target = spec.split(":")[:2]
            folder = self.work / "volumes" / volume
            folder.mkdir(parents=True, exist_ok=True)
            found[target.rstrip("/")] = str(folder)
        return found

    def rewrite(self, service, value):
        value = str(value)
        for target, folder in self.mounts(service).items():
            if value == target or value.startswith(target + "/"):
                return folder + value[len(target):]
        for name in self.services:
            value = re.sub(rf"\b{name}:(\d+)", lambda m: "127.0.0.1:" + self.port_for(m.group(1)),
                           value)
        return value

    def sandbox_command(self):
        command = list(self.services["sandbox"]["command"])
        out = []
        for i, arg in enumerate(command):
            previous = command[i - 1] if i else ""
            if previous == "--bind":
                out.append("127.0.0.1")
            elif previous.endswith("-port"):
                out.append(self.port_for(arg))
            else:
                out.append(self.rewrite("sandbox", arg))
        return out

    def healthy(self):
        test = self.services["sandbox"]["healthcheck"]["test"]
        if test[0] != "CMD":
            fail(f"the sandbox's healthcheck must be CMD form: {test}")
        argv = [self.rewrite("sandbox", a) for a in test[1:]]
        return subprocess.run(argv).returncode == 0

    def groupsync_env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("GROUPSYNC_")}
        for key, value in self.services["groupsync"]["environment"].items():
            env[key] = self.rewrite("groupsync", value)
        return env

    def groupsync_command(self, verb):
        command = [self.rewrite("groupsync", a) for a in self.services["groupsync"]["command"]]
        if command[0] != "serve":
            fail(f"the groupsync service should run `serve`: {command}")
        return [verb] + command[1:]


def check_compose(binary, work):
    with open(DEPLOY / "docker-compose.yml") as f:
        compose = yaml.safe_load(f)
    emu = Emulation(compose, work)
    if compose["services"]["groupsync"]["depends_on"]["sandbox"]["condition"] != "service_healthy":
        fail("groupsync must wait for the sandbox to be healthy")
    pathlib.Path(work).mkdir(parents=True, exist_ok=True)
    log = open(pathlib.Path(work) / "sandbox.log", "w")
    sandbox = subprocess.Popen([binary] + emu.sandbox_command(), stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while not emu.healthy():
            if sandbox.poll() is not None or time.monotonic() > deadline:
                fail("the sandbox service never became healthy")
            time.sleep(0.2)
        env = emu.groupsync_env()
        for verb in ("check", "run"):
            done = subprocess.run([binary] + emu.groupsync_command(verb), env=env,
                                  capture_output=True, text=True, timeout=120)
            # The check's lines, and the head of the run's summary.
            print("\n".join(done.stdout.splitlines()[: 20 if verb == "check" else 3]))
            if done.returncode != 0:
                fail(f"`{verb}` with the compose configuration exited {done.returncode}:\n"
                     f"{done.stderr[-3000:]}")
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=30)
    print("docker-compose.yml: the groupsync service's configuration checks and syncs "
          "against the sandbox service")


def main(argv):
    if len(argv) == 3 and argv[1] == "dockerfile":
        check_dockerfile(argv[2])
    elif len(argv) == 4 and argv[1] == "compose":
        check_compose(argv[2], argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
