"""Device side of the ECG12 protocol: answers identify/start/stop/rate and streams data frames in real time
from a generated 12-lead ECG (looped), with the ADS1298 lead-off bits of the generator's electrode-off mask."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from asalee_devices.drivers.protocols.ecg12 import codec
from asalee_devices.signal.ecg.recording import EcgRecording
from asalee_devices.simulators.generators.ecg import ecg_patient, twelve_lead_ecg

#: ADS1298 at gain 6, Vref 2.4 V: 2 Vref / gain / 2^24 = 0.0477 µV per LSB
DEFAULT_RESOLUTION_PV = 47_684
FULL_SCALE = (1 << 23) - 1


@dataclass(frozen=True)
class Ecg12Settings:
    rate_hz: int = 500
    seed: int = 0
    heart_rate_bpm: float = 70.0
    duration_s: float = 10.0
    resolution_pv: int = DEFAULT_RESOLUTION_PV
    electrode_off: str | None = None
    electrode_off_from_s: float = 0.0
    mains_uv: float = 0.0
    baseline_wander_uv: float = 0.0
    muscle_noise_uv: float = 0.0
    serial_number: str = "SIM-ECG12-0001"
    #: with ``electrode_off``: the electrode is off only during the first N captures (STARTs), then the nurse has
    #: re-attached it (a retake scenario); 0 = off in every capture
    electrode_off_takes: int = 0
    #: >= 0: a simulated patient's rate, QRS axis and amplitude drawn from this seed (generators.ecg.ecg_patient,
    #: instead of ``heart_rate_bpm``), with breathing-modulated beat amplitudes; -1: the fixed 70 bpm trace
    patient_seed: int = -1


class CaptureCounter:
    """Captures started on one simulated device, shared by its successive connections."""

    def __init__(self) -> None:
        self.started = 0


def quantise(signal: EcgRecording, resolution_pv: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The 8 channels as ADC counts (clipped to 24 bits) and one status word per sample."""
    rows = [signal.leads.index(name) for name in codec.CHANNELS]
    counts = np.rint(signal.samples_uv[rows] * 1e6 / resolution_pv).astype(np.int64)
    counts = np.clip(counts, -FULL_SCALE - 1, FULL_SCALE)
    off = signal.lead_off[rows] if signal.lead_off is not None else np.zeros(counts.shape, dtype=bool)
    status = np.full(counts.shape[1], codec.status_word(0, 0), dtype=np.int64)
    flagged = np.nonzero(off.any(axis=0))[0]
    for k in flagged:
        status[k] = codec.status_from_mask(off[:, k])
    return counts.T.copy(), status


class Ecg12DeviceModel:
    """One connection's device state. ``frame_offsets`` logs (output byte offset, sequence) for every data frame."""

    def __init__(self, settings: Ecg12Settings,
                 signal_factory: Callable[[Ecg12Settings, int], EcgRecording] | None = None,
                 counter: CaptureCounter | None = None) -> None:
        self.base_settings = settings
        self.counter = counter or CaptureCounter()
        self.settings = self._capture_settings()
        self.rate_hz = settings.rate_hz
        self._factory = signal_factory or _default_signal
        self._signals: dict[int, tuple[NDArray[np.int64], NDArray[np.int64]]] = {}
        self._out = bytearray()
        self._emitted = 0
        self._streaming = False
        self._stream_t0 = 0.0
        self._sent = 0  # data frames sent since START
        self._seq = 0
        self._now = 0.0
        self._decoder = codec.Ecg12Decoder()
        self.frame_offsets: list[tuple[int, int]] = []

    def _capture_settings(self) -> Ecg12Settings:
        s = self.base_settings
        if s.electrode_off and s.electrode_off_takes and self.counter.started >= s.electrode_off_takes:
            return replace(s, electrode_off=None)
        return s

    def identity(self) -> codec.Identity:
        return codec.Identity(codec.PROTOCOL_VERSION, self.rate_hz, self.settings.resolution_pv, 8,
                              "Asalee Sim", "ECG12-SIM", self.settings.serial_number, "1.2.0")

    def signal(self, rate_hz: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        if rate_hz not in self._signals:
            self._signals[rate_hz] = quantise(self._factory(self.settings, rate_hz), self.settings.resolution_pv)
        return self._signals[rate_hz]

    def _reply(self, data: bytes) -> None:
        self._out += data

    def on_host_bytes(self, data: bytes) -> None:
        frames, _ = self._decoder.feed(data)
        for f in frames:
            if f.frame_type == codec.CMD_IDENTIFY:
                self._reply(codec.encode_identity(self.identity()))
            elif f.frame_type == codec.CMD_START:
                self._reply(codec.encode_frame(codec.T_ACK, bytes((f.frame_type, codec.ACK_OK))))
                settings = self._capture_settings()
                self.counter.started += 1
                if settings != self.settings:
                    self.settings, self._signals = settings, {}
                self.signal(self.rate_hz)
                self._streaming, self._stream_t0, self._sent = True, self._now, 0
            elif f.frame_type == codec.CMD_STOP:
                self._streaming = False
                self._reply(codec.encode_frame(codec.T_ACK, bytes((f.frame_type, codec.ACK_OK))))
            elif f.frame_type == codec.CMD_SET_RATE:
                rate = int.from_bytes(f.payload, "big") if len(f.payload) == 2 else -1
                ok = rate in codec.RATES_HZ and not self._streaming
                if ok:
                    self.rate_hz = rate
                status = codec.ACK_OK if ok else codec.ACK_BAD_PARAMETER
                self._reply(codec.encode_frame(codec.T_ACK, bytes((f.frame_type, status))))
            else:
                self._reply(codec.encode_frame(codec.T_ACK, bytes((f.frame_type, codec.ACK_UNKNOWN_COMMAND))))

    def output(self, elapsed_s: float) -> bytes:
        self._now = elapsed_s
        if self._streaming:
            due = int((elapsed_s - self._stream_t0) * self.rate_hz) + 1
            if due > self._sent:
                counts, status = self.signal(self.rate_hz)
                n = counts.shape[0]
                base = len(self._out) + self._emitted
                for k in range(self._sent, due):
                    i = k % n
                    frame = codec.encode_data(self._seq, int(status[i]), counts[i].tolist())
                    self.frame_offsets.append((base, self._seq))
                    base += len(frame)
                    self._out += frame
                    self._seq = (self._seq + 1) & 0xFFFF
                self._sent = due
        out = bytes(self._out)
        self._emitted += len(out)
        self._out.clear()
        return out


def _default_signal(s: Ecg12Settings, rate_hz: int) -> EcgRecording:
    if s.patient_seed >= 0:
        p = ecg_patient(s.patient_seed)
        return twelve_lead_ecg(duration_s=s.duration_s, fs_hz=rate_hz, heart_rate_bpm=p.heart_rate_bpm, seed=s.seed,
                               axis_deg=p.axis_deg, amplitude_scale=p.amplitude_scale, respiration_mod=0.05,
                               electrode_off=s.electrode_off, electrode_off_from_s=s.electrode_off_from_s,
                               mains_uv=s.mains_uv, baseline_wander_uv=s.baseline_wander_uv,
                               muscle_noise_uv=s.muscle_noise_uv)
    return twelve_lead_ecg(duration_s=s.duration_s, fs_hz=rate_hz, heart_rate_bpm=s.heart_rate_bpm, seed=s.seed,
                           electrode_off=s.electrode_off, electrode_off_from_s=s.electrode_off_from_s,
                           mains_uv=s.mains_uv, baseline_wander_uv=s.baseline_wander_uv,
                           muscle_noise_uv=s.muscle_noise_uv)
