"""Running generated code in a sandbox, for execution-based evaluation (HumanEval pass@k).

The boundary is the operating system, not Python. A run goes through three processes:

    run()                        this process (it may hold torch threads, so it only spawns)
    └ python -I -S -c launch()   a fresh interpreter: new user, mount, PID, network, IPC, UTS and cgroup
      │                          namespaces (unshare(2), as `unshare -Urnmpi`); for root, the namespace's
      │                          root is `nobody`, as root in a user namespace still owns root's files
      └ init, PID 1 of the new   a new root on tmpfs: /usr, /lib*, the interpreter read-only, a few devices,
        │ PID namespace          a fresh /proc, an empty /tmp and a tmpfs work dir holding the program; the
        │                        host's own root is pivoted away, so homes, repos and /tmp are not there
        └ python -I -S run.py    the program: no capabilities, no new privileges, rlimits (CPU seconds,
                                 memory, file size, processes, open files), no network but a downed loopback

When init ends, the kernel kills whatever is left in its PID namespace, so nothing the program starts
(setsid, a double fork, `_posixsubprocess.fork_exec`) outlives run(). Where the OS refuses any of this, run()
raises a UserError naming `--unsafe-sandbox` before the program runs; with `unsafe=True` the program runs as
you, with rlimits and a killed process group only. The in-process audit hook (`Limits.python_guard`) is
defense in depth in both modes, never the boundary.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import marshal
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

from assistant.errors import UserError

NOBODY = 65534
NAMESPACES = 0x10000000 | 0x00020000 | 0x20000000 | 0x40000000 | 0x08000000 | 0x04000000 | 0x02000000
"""CLONE_NEWUSER | NEWNS | NEWPID | NEWNET | NEWIPC | NEWUTS | NEWCGROUP (the user namespace is made first)."""
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 8, 32, 4096, 16384
MS_PRIVATE = 1 << 18
LOCKED = {os.ST_NODEV: MS_NODEV, os.ST_NOEXEC: MS_NOEXEC, os.ST_NOATIME: 1024, os.ST_NODIRATIME: 2048,
          os.ST_RELATIME: 1 << 21}
"""Flags a bind mount keeps from its source: a remount that drops one of them is refused in a user namespace."""
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 4, 24, 38
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc/ld.so.cache", "/etc/localtime")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
UNSAFE_HINT = "pass --unsafe-sandbox to run generated code without isolation (as you, with rlimits only)"


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 10.0
    cpu_seconds: int = 10
    memory_bytes: int = 1 << 30
    file_bytes: int = 16 << 20
    """Per file (RLIMIT_FSIZE), and the size of each of the two tmpfs the program may write: its dir and /tmp."""
    processes: int = 16
    python_guard: bool = True
    """The in-process audit hook, defense in depth; the OS layers apply either way (tests check them alone)."""


@dataclass(frozen=True)
class Outcome:
    status: str
    """'passed' (exit 0), 'failed' (non-zero exit), 'timeout' (wall clock or CPU seconds) or 'killed' (by
    another signal, e.g. the hard CPU limit)."""
    seconds: float
    output: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"


# Runs inside the sandbox before the program: refuses what a test program never needs. Not a boundary
# (`_posixsubprocess.fork_exec` and ctypes have no audit event that stops them); the OS layers are.
GUARD = r'''
import os, sys
_root = os.path.realpath(os.getcwd())
_denied = {"socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "os.fork", "os.forkpty",
           "os.posix_spawn", "os.exec", "os.spawn", "os.system", "subprocess.Popen", "os.kill", "os.killpg",
           "pty.spawn", "ctypes.dlopen", "os.setsid", "os.chroot"}
_writes = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate",
           "os.symlink", "os.link", "shutil.rmtree", "os.utime"}

def _inside(path):
    try:
        p = os.path.realpath(os.fsdecode(path))
    except Exception:
        return False
    return p == _root or p.startswith(_root + os.sep)

def _hook(event, args):
    if event in _denied:
        raise PermissionError(f"sandbox: {event} is not allowed")
    if event == "open" and len(args) > 2:
        # open() passes a mode string, os.open() passes None and its flags: check both.
        mode = args[1] if isinstance(args[1], str) else ""
        flags = args[2] if isinstance(args[2], int) else 0
        writing = any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND)
        if writing and isinstance(args[0], (str, bytes, os.PathLike)) and not _inside(args[0]):
            raise PermissionError("sandbox: writing outside the sandbox dir is not allowed")
    if event in _writes and args and not _inside(args[0]):
        raise PermissionError(f"sandbox: {event} outside the sandbox dir is not allowed")

sys.addaudithook(_hook)
'''

RUNNER = "import sys\nexec(compile(open('guard.py').read(), 'guard.py', 'exec'))\n" \
         "exec(compile(open('main.py').read(), 'main.py', 'exec'), {'__name__': '__main__'})\n"
PROGRAM_ENV = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "LANG": "C.UTF-8"}


def run(program: str, limits: Limits = Limits(), unsafe: bool = False) -> Outcome:
    """Run a Python program in the sandbox and report how it ended; UserError where it cannot be isolated."""
    top = Path(tempfile.mkdtemp(prefix="assistant-sandbox-"))
    try:
        top.chmod(0o711)  # `nobody`, root's stand-in, may pass through to the mount point, not list
        for name in ("root", "work"):
            (top / name).mkdir()
            (top / name).chmod(0o755)
        python = os.path.realpath(sys.executable)
        spec = {"program": program, "guard": GUARD if limits.python_guard else "", "limits": asdict(limits),
                "python": python, "newroot": str(top / "root"), "work": str(top / "work"), "isolate": not unsafe,
                "binds": [p for p in (*SYSTEM, *_interpreter_dirs(python), *DEVICES) if os.path.exists(p)]}
        return _supervise(spec, limits)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def require_isolation() -> None:
    """Raise the UserError that run() would raise, before any expensive work (sampling) is done."""
    problem = isolation_problem()
    if problem:
        raise UserError(problem)


@functools.cache
def isolation_problem() -> str | None:
    """Why this machine cannot isolate generated code (one line naming --unsafe-sandbox), or None."""
    try:
        out = run("pass\n", Limits(wall_seconds=30))
    except UserError as e:
        return str(e)
    return None if out.passed else f"the sandbox could not start Python ({out.output.strip()[-200:]}); {UNSAFE_HINT}"


def _interpreter_dirs(python: str) -> list[str]:
    """The installations this interpreter needs, where the system dirs do not already hold them."""
    dirs = {os.path.realpath(sys.base_prefix), os.path.dirname(os.path.dirname(python))}
    return sorted(d for d in dirs if not any(d == s or d.startswith(s + "/") for s in SYSTEM))


def _supervise(spec: dict[str, Any], limits: Limits) -> Outcome:
    """Start the launcher, wait for the wall clock, kill what is left and read how the program ended."""
    status_read, status_write = os.pipe()
    spec["status_fd"] = status_write
    root = str(Path(__file__).resolve().parents[2])
    boot = f"import sys; sys.path.insert(0, {root!r}); from trainer.evaluation.sandbox import launch; launch()"
    started = time.monotonic()
    try:
        proc = subprocess.Popen([spec["python"], "-I", "-S", "-c", boot], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(status_write,),
                                start_new_session=True, env={"LANG": "C.UTF-8"})
    finally:
        os.close(status_write)
    timed_out = False
    try:
        out, _ = proc.communicate(marshal.dumps(spec), timeout=limits.wall_seconds)
    except subprocess.TimeoutExpired:
        timed_out, out = True, b""
    finally:
        # The launcher and init share this group; the program's namespace dies with init.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    with os.fdopen(status_read, "rb") as f:
        report = f.read().decode("utf-8", "replace").splitlines()
    seconds = time.monotonic() - started
    errors = [line.removeprefix("error ") for line in report if line.startswith("error ")]
    if errors or ("ready" not in report and not timed_out):
        reason = errors[0] if errors else f"the launcher ended early: {out.decode('utf-8', 'replace')[-200:]}"
        if spec["isolate"]:
            raise UserError(f"cannot isolate generated code here ({reason}); allow unprivileged user namespaces "
                            f"(sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone) or {UNSAFE_HINT}")
        raise UserError(f"cannot start the unsafe sandbox ({reason})")
    return Outcome(_status(report, timed_out), seconds, out.decode("utf-8", "replace")[-4000:])


def _status(report: list[str], timed_out: bool) -> str:
    ended = [line.split() for line in report if line.startswith(("exit ", "signal "))]
    if not ended:
        return "timeout" if timed_out else "killed"
    kind, number = ended[0][0], int(ended[0][1])
    if kind == "exit":
        return "passed" if number == 0 else "failed"
    return "timeout" if number == signal.SIGXCPU else "killed"  # SIGXCPU: out of CPU seconds


# Everything below runs in the launcher's fresh interpreter and its children, never in the caller.

def launch() -> NoReturn:
    """The launcher: read the spec from stdin, confine, run the program, report on the status fd, exit."""
    spec = marshal.loads(sys.stdin.buffer.read())
    status = spec["status_fd"]
    os.set_inheritable(status, False)
    try:
        if spec["isolate"]:
            _wait(_enter_namespaces(spec, status))  # init reports how the program ended
        else:
            _write_program(spec, spec["work"])
            _report(status, _wait(_fork_program(spec, status, spec["work"])))
    except OSError as e:
        _report(status, f"error {_describe(e)}")
        os._exit(1)
    os._exit(0)


def _enter_namespaces(spec: dict[str, Any], status: int) -> int:
    """Make the namespaces and fork init, PID 1 of the new PID namespace; its pid (as the launcher sees it)."""
    as_root = os.geteuid() == 0
    if as_root:
        _map_to_nobody()
    else:
        uid, gid = os.getuid(), os.getgid()
        _check(_libc().unshare(NAMESPACES), "unshare(user, mount, pid, net, ipc, uts, cgroup)")
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    # What to bind, opened after unshare (a bind's source must be in this mount namespace) and before root
    # leaves (root's interpreter may live in a home that `nobody` cannot enter).
    sources = {path: os.open(path, os.O_PATH | os.O_CLOEXEC) for path in spec["binds"]}
    init = os.fork()
    if init == 0:
        try:
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "die with the launcher")
            if as_root:  # from here on `nobody`, with capabilities in these namespaces only
                os.setgroups([])
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)
                _prctl(PR_SET_DUMPABLE, 1, "keep /proc/self/fd readable after the change of user")
            _build_root(spec, sources)
            for fd in sources.values():
                os.close(fd)
            _prctl(PR_SET_DUMPABLE, 0, "keep the program out of init's /proc entries")
            _report(status, _wait(_fork_program(spec, status, spec["work"])))
            os._exit(0)  # as PID 1: the kernel now kills everything the program left behind
        except OSError as e:
            _report(status, f"error {_describe(e)}")
            os._exit(1)
    return init


def _map_to_nobody() -> None:
    """Root's namespaces, with the namespace's root mapped to `nobody` (root in a user namespace would still
    own every root-owned file). Only a process outside may write that map: a forked helper, as newuidmap."""
    go_read, go_write = os.pipe()
    helper = os.fork()
    if helper == 0:
        os.close(go_write)
        os.read(go_read, 1)
        try:
            for name in ("uid_map", "gid_map"):
                with open(f"/proc/{os.getppid()}/{name}", "w") as f:
                    f.write(f"0 {NOBODY} 1")
        except OSError:
            os._exit(1)
        os._exit(0)
    os.close(go_read)
    try:
        _check(_libc().unshare(NAMESPACES), "unshare(user, mount, pid, net, ipc, uts, cgroup)")
    finally:
        os.write(go_write, b"x")
        os.close(go_write)
    if os.waitpid(helper, 0)[1] != 0:
        raise OSError(errno.EPERM, f"cannot map uid {NOBODY} into the sandbox's user namespace")


def _build_root(spec: dict[str, Any], sources: dict[str, int]) -> None:
    """A read-only root with only what Python needs, the program in a tmpfs work dir; pivot into it."""
    new, work, size = spec["newroot"], spec["work"], spec["limits"]["file_bytes"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    for path, fd in sources.items():
        _bind_readonly(f"/proc/self/fd/{fd}", new + path, os.fstat(fd).st_mode)
    os.makedirs(f"{new}/proc")
    with contextlib.suppress(OSError):  # a host that masks parts of its /proc refuses a fresh one: then none
        _mount("proc", f"{new}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for path, mode in (("/tmp", "1777"), (work, "0755")):
        os.makedirs(new + path, exist_ok=True)
        _mount("tmpfs", new + path, "tmpfs", MS_NOSUID | MS_NODEV, f"mode={mode},size={size},uid=0,gid=0")
    _write_program(spec, new + work)
    _mount(None, new, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir(new)
    machine = os.uname().machine
    if machine not in SYS_PIVOT_ROOT:
        raise OSError(errno.ENOSYS, f"pivot_root: no syscall number known for {machine}")
    _check(_libc().syscall(SYS_PIVOT_ROOT[machine], b".", b"."), "pivot_root")
    _check(_libc().umount2(b".", MNT_DETACH), "umount the host's root")


def _bind_readonly(source: str, target: str, mode: int) -> None:
    """`source` at `target`, read-only, without setuid; device nodes work only where they are bound."""
    if stat.S_ISDIR(mode):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    _mount(source, target, None, MS_BIND)
    kept = sum(ms for st, ms in LOCKED.items() if os.statvfs(target).f_flag & st)
    devices = 0 if stat.S_ISCHR(mode) else MS_NODEV
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | devices | kept)


def _write_program(spec: dict[str, Any], work: str) -> None:
    for name, text in (("main.py", spec["program"]), ("guard.py", spec["guard"]), ("run.py", RUNNER)):
        Path(work, name).write_text(text, encoding="utf-8")


def _fork_program(spec: dict[str, Any], status: int, work: str) -> int:
    """Fork the program: no capabilities, no new privileges, rlimits, stdin from /dev/null; its pid."""
    pid = os.fork()
    if pid:
        return pid
    try:
        os.chdir(work)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        if spec["isolate"]:
            for cap in range(64):  # root of the user namespace, but with an empty bounding set exec grants nothing
                if _libc().prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                    break  # EINVAL: past the last capability this kernel knows
            _prctl(PR_SET_NO_NEW_PRIVS, 1, "no new privileges")
        limits = spec["limits"]
        for res, value in ((resource.RLIMIT_CPU, limits["cpu_seconds"]), (resource.RLIMIT_AS, limits["memory_bytes"]),
                           (resource.RLIMIT_FSIZE, limits["file_bytes"]), (resource.RLIMIT_NOFILE, 64),
                           (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NPROC, limits["processes"])):
            # CPU: the soft limit sends SIGXCPU (read as a timeout); the hard one, a second later, SIGKILL.
            resource.setrlimit(res, (value, value + 1 if res == resource.RLIMIT_CPU else value))
        _report(status, "ready")
        env = {**PROGRAM_ENV, "HOME": work, "TMPDIR": work}
        os.execve(spec["python"], [spec["python"], "-I", "-S", "run.py"], env)
    except OSError as e:
        _report(status, f"error starting the program: {_describe(e)}")
    os._exit(127)


def _wait(pid: int) -> str:
    """Reap children (init adopts orphans) until `pid` ends; how it ended, as a status line."""
    while True:
        done, code = os.waitpid(-1, 0)
        if done == pid:
            return f"signal {os.WTERMSIG(code)}" if os.WIFSIGNALED(code) else f"exit {os.waitstatus_to_exitcode(code)}"


def _describe(e: OSError) -> str:
    return f"{e.strerror}: {e.filename}" if e.filename else str(e.strerror or e)


def _report(status: int, line: str) -> None:
    os.write(status, (line.replace("\n", " ") + "\n").encode())


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _prctl(option: int, value: int, why: str) -> None:
    _check(_libc().prctl(option, value, 0, 0, 0), f"prctl ({why})")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def c(s: str | None) -> bytes | None:
        return None if s is None else os.fsencode(s)
    _check(_libc().mount(c(source), c(target), c(fstype), ctypes.c_ulong(flags), c(data)), f"mount {target}")
