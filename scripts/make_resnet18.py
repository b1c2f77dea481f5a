"""torchvision ResNet-18 architecture, weights from torch.manual_seed(0) random init (nothing downloaded).
Input `input` [8,3,224,224] float32, output `output` [8,1000]. ONNX opset 13, static shapes."""
import os
import torch
import torchvision

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
out = os.path.join(os.environ.get("MODELS_OUT", ".device/models"), "resnet18.onnx")
torch.manual_seed(0)
model = torchvision.models.resnet18(weights=None).eval()
x = torch.zeros(8, 3, 224, 224)
with torch.no_grad():
    torch.onnx.export(model, x, out, input_names=["input"], output_names=["output"],
                      opset_version=13, do_constant_folding=True, dynamo=False)
print("wrote", out, os.path.getsize(out), "bytes")
