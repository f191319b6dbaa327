#!/usr/bin/env python3
"""Build the artifacts of the hello_conc demo, using only the standard library.

Usage:

    python3 build.py OUTDIR

writes into OUTDIR (created if missing):

    greeting-1.0.tar.gz                  vendor source package (top dir greeting-1.0/)
    hello_conc-1.0.0-py3-none-any.whl    the application as a wheel

Both files are deterministic (sorted members, fixed timestamps, uid/gid 0,
no user names): building twice from the same sources gives
byte-identical output. Works with Python 3.9 and later; needs no network,
no pip, no setuptools and no wheel package.
"""

import base64
import csv
import gzip
import hashlib
import io
import os
import sys
import tarfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC_DIR = os.path.join(HERE, "src")
PACKAGE = "hello_conc"
VENDOR_DIR = os.path.join(HERE, "vendor-src")
VENDOR_NAME = "greeting-1.0"

DIST_NAME = "hello_conc"  # normalized distribution name used in file names
SCRIPT_NAME = "hello-conc"
ENTRY_POINT = "hello_conc.cli:main"
REQUIRES = ["greeting"]
GENERATOR = "conc-example-build (1.0)"

# Earliest timestamp a zip file can hold; used for every wheel member.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)

# Fixed mtime for every tar member: 2000-01-01T00:00:00Z. It must NOT be 0:
# `tar -x` restores member mtimes, and `python setup.py install` (bdist_egg)
# then zips the files, and zipfile refuses timestamps before 1980
# ("ValueError: ZIP does not support timestamps before 1980").
TAR_MTIME = 946684800

SKIP_DIRS = {"__pycache__", "build", "dist"}
SKIP_SUFFIXES = (".pyc", ".pyo", ".egg-info")


def read_version():
    """Read __version__ from src/hello_conc/__init__.py without importing it."""
    path = os.path.join(SRC_DIR, PACKAGE, "__init__.py")
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("__version__"):
                return line.split("=", 1)[1].strip().strip("\"'")
    raise SystemExit("build.py: no __version__ in %s" % path)


def walk_sorted(root):
    """Yield (absolute path, path relative to root) for files and dirs under
    root in a stable order, skipping build leftovers and caches.

    Directories are yielded (with a trailing "/" on the relative path) before
    their contents.
    """
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames
            if d not in SKIP_DIRS and not d.endswith(SKIP_SUFFIXES))
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir != ".":
            yield dirpath, rel_dir.replace(os.sep, "/") + "/"
        for name in sorted(filenames):
            if name.endswith(SKIP_SUFFIXES):
                continue
            full = os.path.join(dirpath, name)
            yield full, os.path.relpath(full, root).replace(os.sep, "/")


# --------------------------------------------------------------------------
# Vendor source tarball
# --------------------------------------------------------------------------

def _normalize(info, mode):
    info.mode = mode
    info.mtime = TAR_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build_sdist(outdir):
    """Write OUTDIR/greeting-1.0.tar.gz with top directory greeting-1.0/."""
    src = os.path.join(VENDOR_DIR, VENDOR_NAME)
    if not os.path.isdir(src):
        raise SystemExit("build.py: missing vendor source %s" % src)
    out = os.path.join(outdir, VENDOR_NAME + ".tar.gz")

    buf = io.BytesIO()
    # USTAR keeps the archive free of PAX headers (which could carry
    # non-deterministic attributes); our names are short and ASCII.
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        top = tarfile.TarInfo(VENDOR_NAME)
        top.type = tarfile.DIRTYPE
        tar.addfile(_normalize(top, 0o755))
        for full, rel in walk_sorted(src):
            arcname = VENDOR_NAME + "/" + rel.rstrip("/")
            if rel.endswith("/"):
                info = tarfile.TarInfo(arcname)
                info.type = tarfile.DIRTYPE
                tar.addfile(_normalize(info, 0o755))
                continue
            with open(full, "rb") as f:
                data = f.read()
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            executable = os.stat(full).st_mode & 0o111
            tar.addfile(_normalize(info, 0o755 if executable else 0o644),
                        io.BytesIO(data))

    # gzip header: mtime 0 (means "no time stamp") and no embedded file name.
    with open(out, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                           compresslevel=9) as gz:
            gz.write(buf.getvalue())
    return out


# --------------------------------------------------------------------------
# Wheel
# --------------------------------------------------------------------------

def _record_hash(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _metadata(version):
    lines = [
        "Metadata-Version: 2.1",
        "Name: %s" % DIST_NAME,
        "Version: %s" % version,
        "Summary: Demo application deployed by conc",
        "License: MIT",
        "Classifier: Programming Language :: Python :: 3",
    ]
    lines += ["Requires-Dist: %s" % req for req in REQUIRES]
    return "\n".join(lines) + "\n\n" + (
        "hello_conc prints a greeting produced by the vendor library\n"
        "'greeting', its version and sys.prefix.\n")


def _wheel_file():
    return ("Wheel-Version: 1.0\n"
            "Generator: %s\n"
            "Root-Is-Purelib: true\n"
            "Tag: py3-none-any\n" % GENERATOR)


def _entry_points():
    return "[console_scripts]\n%s = %s\n" % (SCRIPT_NAME, ENTRY_POINT)


def build_wheel(outdir):
    """Write OUTDIR/hello_conc-VERSION-py3-none-any.whl by hand."""
    version = read_version()
    dist_info = "%s-%s.dist-info" % (DIST_NAME, version)
    out = os.path.join(outdir, "%s-%s-py3-none-any.whl" % (DIST_NAME, version))

    # (archive name, bytes) in the order they go into the zip:
    # package files first, dist-info last, RECORD at the very end.
    members = []
    pkg_dir = os.path.join(SRC_DIR, PACKAGE)
    if not os.path.isfile(os.path.join(pkg_dir, "__init__.py")):
        raise SystemExit("build.py: missing package %s" % pkg_dir)
    for full, rel in walk_sorted(pkg_dir):
        if rel.endswith("/"):
            continue  # zip directory entries are not needed in a wheel
        with open(full, "rb") as f:
            members.append((PACKAGE + "/" + rel, f.read()))
    members += [
        (dist_info + "/METADATA", _metadata(version).encode("utf-8")),
        (dist_info + "/WHEEL", _wheel_file().encode("utf-8")),
        (dist_info + "/entry_points.txt", _entry_points().encode("utf-8")),
        (dist_info + "/top_level.txt", (PACKAGE + "\n").encode("utf-8")),
    ]

    record_name = dist_info + "/RECORD"
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for name, data in members:
        writer.writerow([name, _record_hash(data), str(len(data))])
    writer.writerow([record_name, "", ""])
    members.append((record_name, record.getvalue().encode("utf-8")))

    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100644 << 16)  # regular file, rw-r--r--
            info.create_system = 3  # Unix, so the mode bits are honoured
            zf.writestr(info, data)
    return out


def main(argv):
    if len(argv) == 2 and argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    if len(argv) != 2:
        print("usage: python3 build.py OUTDIR", file=sys.stderr)
        return 2
    outdir = os.path.abspath(argv[1])
    os.makedirs(outdir, exist_ok=True)
    for path in (build_sdist(outdir), build_wheel(outdir)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
