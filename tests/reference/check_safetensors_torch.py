#!/usr/bin/python3
# tests/reference/check_safetensors_torch.py SHRIKE WORKDIR
#
# The PyTorch side of weight interchange (ctest e2e.export_safetensors_torch), in both
# directions, against the independent reference model (yolo_reference.py):
#   shrike -> PyTorch: `shrike export --format safetensors` of the yolov8n and yolo11n
#     fixture weights is loaded by name with load_state_dict(strict=True) into the
#     reference DetectionModel; its eval forward (Detect decode included) on a test
#     image must match `shrike debug forward` to 1e-4 (every element within
#     1e-4 * max(|x|, 1), and the tensor in relative L2).
#   PyTorch -> shrike: a reference model with random weights and BatchNorm statistics
#     is saved as safetensors (as the README's .pt conversion does), brought in with
#     `shrike import`, and shrike's forward must match the reference's the same way.
# Uses safetensors.torch when installed, else reads and writes the format with numpy.
# Exits 77 (ctest: skipped) when torch is not importable: Debian's python3-torch is
# not among the CI packages (see scripts/install-deps.sh).
import json
import struct
import subprocess
import sys
from pathlib import Path

try:
    import numpy as np
    import torch
except ImportError as error:
    print(f"SKIP: PyTorch is not importable by {sys.executable} ({error}); install Debian's python3-torch")
    sys.exit(77)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import yolo_reference as yr  # noqa: E402

TOLERANCE = 1e-4
DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    """(tensors as torch tensors, metadata) with numpy only: 8-byte LE length, JSON, data."""
    raw = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    data = raw[8 + length:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        array = np.frombuffer(data[begin:end], dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors, header.get("__metadata__", {})


def write_safetensors(path, tensors, metadata=None):
    header, chunks, offset = {}, [], 0
    names = {np.dtype(v): k for k, v in DTYPES.items()}
    for name, tensor in sorted(tensors.items()):
        array = tensor.detach().cpu().contiguous().numpy()
        header[name] = {"dtype": names[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        chunks.append(array.tobytes())
        offset += array.nbytes
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def test_image(batch, height, width, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.linspace(0, 1, height).view(1, 1, height, 1)
    x = torch.linspace(0, 1, width).view(1, 1, 1, width)
    smooth = 0.5 + 0.3 * torch.sin(7 * x + 5 * y + torch.arange(3).view(1, 3, 1, 1))
    return (smooth + 0.1 * torch.rand(batch, 3, height, width, generator=g)).clamp(0, 1).float()


def shrike_forward(shrike, weights, images, work):
    path_in, path_out = work / "images.safetensors", work / "output.safetensors"
    write_safetensors(path_in, {"images": images})
    run([shrike, "debug", "forward", "--weights", str(weights), "--input", str(path_in), "--out", str(path_out)])
    return read_safetensors(path_out)[0]["output0"]


def run(command):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"FAIL: {' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result.stdout


def compare(what, torch_out, shrike_out):
    if torch_out.shape != shrike_out.shape:
        sys.exit(f"FAIL: {what}: PyTorch output {tuple(torch_out.shape)}, shrike {tuple(shrike_out.shape)}")
    diff = (torch_out.double() - shrike_out.double()).abs()
    worst = (diff / shrike_out.double().abs().clamp(min=1)).max().item()
    rel_l2 = (diff.norm() / shrike_out.double().norm()).item()
    print(f"{what}: output {tuple(shrike_out.shape)}, max scaled error {worst:.2e}, relative L2 {rel_l2:.2e}")
    if not (worst <= TOLERANCE and rel_l2 <= TOLERANCE):
        sys.exit(f"FAIL: {what} differs beyond {TOLERANCE}")


def reference_model(model_yaml, nc, state=None):
    model = yr.DetectionModel(model_yaml, nc=nc)
    if state is not None:
        model.load_state_dict(state, strict=True)  # every name, every shape
    return model.eval()


def shrike_to_torch(shrike, work, name):
    weights = HERE / "fixtures" / f"{name}_s128_b3.weights.h5"
    exported = work / f"{name}.safetensors"
    run([shrike, "export", str(weights), "--format", "safetensors", "--out", str(exported)])
    tensors, metadata = read_safetensors(exported)
    model = reference_model(metadata["model_yaml"], int(metadata["nc"]), tensors)
    images = test_image(2, 128, 160, seed=1)
    with torch.no_grad():
        torch_out = model(images)
    shrike_out = shrike_forward(shrike, weights, images, work)
    compare(f"{name}: shrike export -> PyTorch load_state_dict", torch_out, shrike_out)


def torch_to_shrike(shrike, work, name, seed):
    torch.manual_seed(seed)
    model = reference_model(f"{name}.yaml", nc=3)
    with torch.no_grad():  # trained-looking BatchNorm statistics, so that folding matters
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(1000)
    source = work / f"{name}_torch.safetensors"
    write_safetensors(source, model.state_dict(), {"names": json.dumps(["a", "b", "c"])})
    weights = work / f"{name}_imported.h5"
    print(run([shrike, "import", str(source), "--model", f"{name}.yaml", "--out", str(weights)]).strip())
    images = test_image(1, 160, 128, seed=2)
    with torch.no_grad():
        torch_out = model(images)
    compare(f"{name}: PyTorch state dict -> shrike import", torch_out, shrike_forward(shrike, weights, images, work))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: check_safetensors_torch.py SHRIKE WORKDIR")
    shrike, work = sys.argv[1], Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    for name in ("yolov8n", "yolo11n"):
        shrike_to_torch(shrike, work, name)
    for seed, name in enumerate(("yolov8n", "yolo11n")):
        torch_to_shrike(shrike, work, name, seed)
    print("PyTorch and shrike agree on exported and imported weights")


if __name__ == "__main__":
    main()
