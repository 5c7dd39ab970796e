"""Peer (a): the official PyTorch MNIST example, as published, timed to a test accuracy.

    python scripts/peers/pytorch_mnist_example.py --root /tmp/peer_root --target 0.99
    python scripts/peers/pytorch_mnist_example.py --root /tmp/peer_root --dataset FashionMNIST

Follows pytorch/examples, mnist/main.py (commit 77f55b9, 2025-08-25): its `Net` (two 3x3 convs,
max-pool, dropout, two linear layers, log-softmax), NLL loss, Adadelta with lr 1.0, StepLR with
gamma 0.7 stepped after each epoch's test, batch 64, test batch 1000, ToTensor + Normalize, all
60,000 training images, the test set after every epoch, 14 epochs, seed 1, on the CPU.
The command line and stdout follow scripts/peers/_protocol.py.
"""

from __future__ import annotations

import sys

import _protocol
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def train(model, train_loader, optimizer):
    # The example also prints the loss every 10 batches; stdout is the protocol channel here, so
    # that progress log is left out.
    model.train()
    for data, target in train_loader:
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()


def test(model, test_loader) -> float:
    """The example's `test()`: its summary goes to stderr; returns the accuracy as a fraction."""
    model.eval()
    test_loss, correct = 0.0, 0
    with torch.no_grad():
        for data, target in test_loader:
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            correct += output.argmax(dim=1).eq(target).sum().item()
    n = len(test_loader.dataset)
    print(
        f"Test set: Average loss: {test_loss / n:.4f}, Accuracy: {correct}/{n} "
        f"({100.0 * correct / n:.0f}%)",
        file=sys.stderr,
    )
    return correct / n


def main(argv: list[str] | None = None) -> None:
    parser = _protocol.peer_parser(__doc__, max_epochs=14)
    args = parser.parse_args(argv)
    _protocol.require_data(args.root, args.dataset)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    train_set, test_set = _protocol.mnist_style_sets(args)
    # The example shuffles only under its accelerator branch since a 2020 refactor (before, and
    # on every device, it always shuffled); we shuffle on the CPU too, as every device did.
    # num_workers stays at the DataLoader's default 0, as on the example's CPU path.
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=1000)

    model = Net()
    optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    for epoch in range(1, args.max_epochs + 1):
        train(model, train_loader, optimizer)
        test_acc = test(model, test_loader)
        _protocol.report_epoch(epoch, test_acc)
        if _protocol.target_reached(test_acc, args.target):
            break
        scheduler.step()


if __name__ == "__main__":
    main()
