"""The toy ECG's device side for tests (optional fifth file): bytes in -> bytes out, clocked by the caller (the
:class:`~asalee_devices.simulators.base.DeviceModel` protocol), served over TCP by ``TcpSimulatorServer``."""

from __future__ import annotations

import numpy as np
from toyecg import protocol

from asalee_devices.simulators.generators.ecg import twelve_lead_ecg

FS_HZ = 500


class ToyEcgModel:
    def __init__(self, serial: str = "TOY-0001", seed: int = 1) -> None:
        rec = twelve_lead_ecg(duration_s=30.0, fs_hz=float(FS_HZ), seed=seed)
        self.samples = np.stack([rec.lead(c) for c in protocol.CHANNELS], axis=1).round().astype(int)
        self.serial = serial
        self.pending = b""
        self.started_at: float | None = None
        self.sent = 0
        self.now = 0.0

    def on_host_bytes(self, data: bytes) -> None:
        for byte in data:
            cmd = bytes([byte])
            if cmd == protocol.IDENTIFY:
                self.pending += f"TOYECG;{self.serial};{FS_HZ}\n".encode()
            elif cmd == protocol.START:
                self.started_at, self.sent = self.now, 0
            elif cmd == protocol.STOP:
                self.started_at = None

    def output(self, elapsed_s: float) -> bytes:
        self.now = elapsed_s
        out, self.pending = self.pending, b""
        if self.started_at is not None:
            due = min(int((elapsed_s - self.started_at) * FS_HZ), len(self.samples))
            out += b"".join(protocol.encode_frame(i, self.samples[i].tolist()) for i in range(self.sent, due))
            self.sent = max(self.sent, due)
        return out
