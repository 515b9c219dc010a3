#!/usr/bin/env python3
"""bench/pull_image.py OUT_DIR [TAG] — writes the issue-3 benchmark image as an OCI image layout.

Deterministic: a seeded PRNG, fixed mtimes (2026-01-01), owner 0:0, gzip headers without a name
or time, so every run produces the same blobs and digests. Five gzip layers of mixed content,
about 215 MB compressed and about 280 MB unpacked:

  layer  small text files (0.2-16 KB)  medium files (256 KB-1 MB, half random)  big random files
  0      3000                          40                                        3 x 12 MB
  1      1500                          30                                        2 x 16 MB
  2       500                          20                                        1 x 24 MB
  3      5000                          10                                        -
  4        50                           5                                        2 x 12 MB

Small files are slices of a 1 MB corpus of words (they compress about 3:1); big files are
incompressible; medium ones alternate 4 KB random and 4 KB text. Directories nest 3 deep,
and each layer has a few symlinks. The image config has the right diff_ids; the manifest is
OCI. Push it with `skopeo copy --preserve-digests oci:OUT_DIR:TAG docker://HOST/REPO:TAG`.
"""
import gzip
import hashlib
import io
import json
import os
import random
import sys
import tarfile

MTIME = 1767225600  # 2026-01-01T00:00:00Z
LAYERS = [(3000, 40, 3, 12), (1500, 30, 2, 16), (500, 20, 1, 24), (5000, 10, 0, 0), (50, 5, 2, 12)]


def corpus(rng):
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
             for _ in range(4000)]
    out, size = [], 0
    while size < (1 << 20):
        w = rng.choice(words)
        out.append(w)
        size += len(w) + 1
    return (" ".join(out) + "\n").encode()


def layer_tar(idx, spec, rng, text):
    small, medium, big, big_mb = spec
    buf = io.BytesIO()
    tf = tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT)
    made = set()

    def add_dir(path):
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p in made:
                continue
            made.add(p)
            ti = tarfile.TarInfo(p)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, MTIME
            tf.addfile(ti)

    def add_file(path, data, mode=0o644):
        add_dir(os.path.dirname(path))
        ti = tarfile.TarInfo(path)
        ti.size, ti.mode, ti.mtime = len(data), mode, MTIME
        tf.addfile(ti, io.BytesIO(data))

    root = f"l{idx}"
    for i in range(small):
        n = rng.randint(200, 16384)
        off = rng.randint(0, len(text) - n)
        add_file(f"{root}/share/d{i % 17}/s{i % 5}/f{i:05d}.txt", text[off:off + n])
    for i in range(medium):
        n = rng.randint(256, 1024) * 1024
        chunks = []
        for c in range(0, n, 4096):
            if (c // 4096) % 2 == 0:
                chunks.append(rng.randbytes(4096))
            else:
                off = rng.randint(0, len(text) - 4096)
                chunks.append(text[off:off + 4096])
        add_file(f"{root}/lib/m{i:03d}.so", b"".join(chunks)[:n], 0o755)
    for i in range(big):
        add_file(f"{root}/data/big{i}.bin", rng.randbytes(big_mb << 20))
    for i in range(5):
        add_dir(f"{root}/bin")
        ti = tarfile.TarInfo(f"{root}/bin/link{i}")
        ti.type, ti.linkname, ti.mtime = tarfile.SYMTYPE, f"../lib/m{i:03d}.so", MTIME
        tf.addfile(ti)
    tf.close()
    return buf.getvalue()


def put_blob(out, data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(out, "blobs", "sha256", d), "wb") as f:
        f.write(data)
    return "sha256:" + d


def main():
    out = sys.argv[1]
    tag = sys.argv[2] if len(sys.argv) > 2 else "bench"
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    rng = random.Random(3)
    text = corpus(rng)
    layers, diff_ids, total_c, total_u = [], [], 0, 0
    for idx, spec in enumerate(LAYERS):
        tar = layer_tar(idx, spec, rng, text)
        gz = gzip.compress(tar, compresslevel=6, mtime=0)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                       "digest": put_blob(out, gz), "size": len(gz)})
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        total_c += len(gz)
        total_u += len(tar)
        print(f"layer {idx}: {len(tar) / 1e6:.1f} MB tar, {len(gz) / 1e6:.1f} MB gzip, {layers[-1]['digest']}",
              file=sys.stderr)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}, sort_keys=True).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": put_blob(out, config), "size": len(config)},
                           "layers": layers}, sort_keys=True).encode()
    md = put_blob(out, manifest)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": len(manifest),
             "annotations": {"org.opencontainers.image.ref.name": tag}}]}, f)
    print(f"total: {total_u / 1e6:.1f} MB tar, {total_c / 1e6:.1f} MB gzip, manifest {md}", file=sys.stderr)
    # stdout: the layer blob digests, base first (the floor's curl list)
    for l in layers:
        print(l["digest"])


if __name__ == "__main__":
    main()
