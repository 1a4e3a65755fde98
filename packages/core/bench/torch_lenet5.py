"""PyTorch reference for core's data-parallel bench: Caffe LeNet-5 (431,080 parameters), batch 64, Adam, one training
step timed per call, on 1 and 2 intra-op threads. Prints one JSON object on stdout.
Inputs are seeded random digits of MNIST's shape: a step's time does not depend on the pixel values.
Usage: python3 torch_lenet5.py STEPS THREADS..."""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def step_ms(threads, steps):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = LeNet5()
    assert sum(p.numel() for p in model.parameters()) == 431080
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(steps + 5, 64, 1, 28, 28)
    y = torch.randint(0, 10, (steps + 5, 64))
    def one(i):
        opt.zero_grad()
        F.cross_entropy(model(x[i]), y[i]).backward()
        opt.step()
    for i in range(5):  # warm-up
        one(i)
    t0 = time.perf_counter()
    for i in range(5, steps + 5):
        one(i)
    return (time.perf_counter() - t0) * 1000 / steps


steps = int(sys.argv[1])
out = {"torch": torch.__version__, "step_ms": {}}
for t in sys.argv[2:]:
    out["step_ms"][t] = step_ms(int(t), steps)
print(json.dumps(out))
