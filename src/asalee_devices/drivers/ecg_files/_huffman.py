"""SCP-ECG Huffman decoding (EN 1064 section 2): the default table, custom tables and table switching.

Decoding is vectorised: for every bit position of a lead's data the code found there (its length and value) is
computed with numpy, and the walk from one code to the next is done by pointer doubling (the "next code" table
composed with itself). :meth:`HuffmanDecoder.decode_leads` does this once for all the leads of a section (one table
over the whole section, the leads walked side by side), which removes the per-lead overhead; it falls back to the
per-lead :meth:`HuffmanDecoder.decode` (which also gives the precise error) whenever a lead does not decode cleanly.
Tables with switch codes take a slower per-symbol path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from asalee_devices.errors import FormatError

#: longest code prefix and longest extra-bit field accepted in a table
MAX_PREFIX_BITS = 16
MAX_EXTRA_BITS = 32
_CHUNK_BYTES = 16384
#: the all-leads path is used up to this many bits of section data (its tables take ~24 bytes per bit)
_BATCH_MAX_BITS = 1 << 22


@dataclass(frozen=True)
class HuffmanCode:
    """One table entry: ``prefix_bits`` long code ``code`` (MSB first); when ``switch`` the code switches to table
    number ``base_value`` (1-based); else the value is ``base_value`` (``total_bits == prefix_bits``) or the next
    ``total_bits - prefix_bits`` bits read as a two's complement integer."""

    prefix_bits: int
    total_bits: int
    switch: bool
    base_value: int
    code: int


def _default_table() -> tuple[HuffmanCode, ...]:
    fixed: list[HuffmanCode] = [HuffmanCode(1, 1, False, 0, 0b0)]
    for v in range(1, 9):
        plen = v + 2
        prefix = ((1 << v) - 1) << 2  # v ones then two zeros
        fixed.append(HuffmanCode(plen, plen, False, v, prefix))
        fixed.append(HuffmanCode(plen, plen, False, -v, prefix | 1))
    fixed.append(HuffmanCode(10, 18, False, 0, 0b1111111110))
    fixed.append(HuffmanCode(10, 26, False, 0, 0b1111111111))
    return tuple(fixed)


DEFAULT_TABLE: tuple[HuffmanCode, ...] = _default_table()


def reverse_bits(value: int, nbits: int) -> int:
    out = 0
    for _ in range(nbits):
        out = (out << 1) | (value & 1)
        value >>= 1
    return out


@dataclass(frozen=True)
class _Lut:
    maxp: int
    plen: NDArray[np.int64]  # 0 = no code
    extra: NDArray[np.int64]
    base: NDArray[np.int64]
    switch_to: NDArray[np.int64]  # -1 = not a switch code
    step: NDArray[np.int32]  # prefix + extra bits; 0 = no code
    window_bytes: int  # bytes to read at a code position to hold the code and its extra bits
    jump_step: NDArray[np.intp]  # prefix + extra bits; 2**30 (beyond any data) = no code


def _build_lut(table: tuple[HuffmanCode, ...], n_tables: int) -> _Lut:
    if not table:
        raise FormatError("SCP Huffman table has no codes", field="huffman_table")
    maxp = max(c.prefix_bits for c in table)
    if maxp < 1 or maxp > MAX_PREFIX_BITS:
        raise FormatError("SCP Huffman code too long", field="prefix_bits", value=maxp,
                          expected=f"1..{MAX_PREFIX_BITS}")
    size = 1 << maxp
    plen = np.zeros(size, np.int64)
    extra = np.zeros(size, np.int64)
    base = np.zeros(size, np.int64)
    switch_to = np.full(size, -1, np.int64)
    for c in table:
        if c.prefix_bits < 1 or c.code >> c.prefix_bits:
            raise FormatError("SCP Huffman code does not fit its length", field="prefix_bits", value=c.prefix_bits)
        nextra = c.total_bits - c.prefix_bits
        if not c.switch and not 0 <= nextra <= MAX_EXTRA_BITS:
            raise FormatError("SCP Huffman code has an impossible total length", field="total_bits",
                              value=c.total_bits, expected=f"{c.prefix_bits}..{c.prefix_bits + MAX_EXTRA_BITS}")
        if c.switch and not 1 <= c.base_value <= n_tables:
            raise FormatError("SCP Huffman switch code names a missing table", field="base_value",
                              value=c.base_value, expected=f"1..{n_tables}")
        lo = c.code << (maxp - c.prefix_bits)
        hi = (c.code + 1) << (maxp - c.prefix_bits)
        if np.any(plen[lo:hi]):
            raise FormatError("SCP Huffman table is not prefix-free", field="code", value=c.code)
        plen[lo:hi] = c.prefix_bits
        extra[lo:hi] = 0 if c.switch else nextra
        base[lo:hi] = c.base_value
        switch_to[lo:hi] = c.base_value - 1 if c.switch else -1
    longest = int(np.max(plen + extra))
    step = plen + extra
    jump_step = np.where(step > 0, step, 1 << 30).astype(np.intp)
    return _Lut(maxp, plen, extra, base, switch_to, step.astype(np.int32), min(8, (longest + 7 + 7) // 8), jump_step)


def _batch_block(nbits: int, n_max: int, n_leads: int) -> int:
    """Codes jumped per gather in :meth:`HuffmanDecoder.decode_leads`: each doubling of the jump costs a pass
    over all ``nbits``, each block a gather of ``n_leads * block`` positions plus a fixed overhead (~3000
    elements' worth); the power of two with the least total cost."""
    best, best_cost = 1, float("inf")
    b, levels = 1, 0
    while True:
        cost = levels * nbits + (n_max / b + 1) * (3000 + n_leads * b)
        if cost < best_cost:
            best, best_cost = b, cost
        if b >= n_max:
            return best
        b *= 2
        levels += 1


class HuffmanDecoder:
    """Decoder for a set of tables (the first is the initial table)."""

    def __init__(self, tables: tuple[tuple[HuffmanCode, ...], ...]) -> None:
        if not tables:
            raise FormatError("SCP section 2 has no Huffman table", field="tables")
        self.luts = [_build_lut(t, len(tables)) for t in tables]
        self.simple = len(self.luts) == 1 and bool(np.all(self.luts[0].switch_to < 0))
        self._cache: tuple[bytes, NDArray[np.uint64]] | None = None

    @staticmethod
    def _windows(data: bytes, b0: int, b1: int) -> NDArray[np.uint64]:
        """64-bit big-endian windows starting at every bit of bytes [b0, b1) (zero padded past the end)."""
        seg = np.frombuffer(data, np.uint8, count=min(b1 + 8, len(data)) - b0, offset=b0)
        pad = np.zeros(b1 - b0 + 8, np.uint8)
        pad[: seg.size] = seg
        words = np.ndarray((b1 - b0,), dtype=">u8", buffer=pad, strides=(1,)).astype(np.uint64)
        nb = (b1 - b0) * 8
        pos = np.arange(nb, dtype=np.int64)
        return words[pos >> 3] << (pos & 7).astype(np.uint64)  # type: ignore[no-any-return]

    @staticmethod
    def _prefix_index(data: bytes, b0: int, b1: int, maxp: int) -> NDArray[np.int64]:
        """The ``maxp``-bit code prefix starting at every bit of bytes [b0, b1)."""
        seg = np.frombuffer(data, np.uint8, count=min(b1 + 4, len(data)) - b0, offset=b0)
        pad = np.zeros(b1 - b0 + 4, np.uint8)
        pad[: seg.size] = seg
        m = b1 - b0
        # big-endian 32-bit windows at every byte: an unaligned strided view, converted in one pass
        words = np.ndarray((m,), dtype=">u4", buffer=pad, strides=(1,)).astype(np.int64)
        shifts = (32 - maxp) - np.arange(8, dtype=np.int64)
        idx = (words[:, None] >> shifts[None, :]) & ((1 << maxp) - 1)
        out: NDArray[np.int64] = idx.reshape(-1)
        return out

    def _words(self, data: bytes) -> NDArray[np.uint64]:
        """64-bit big-endian words starting at every byte of ``data`` (zero padded), cached per buffer."""
        if self._cache is not None and self._cache[0] is data:
            return self._cache[1]
        raw = np.zeros(len(data) + 8, np.uint8)
        raw[: len(data)] = np.frombuffer(data, np.uint8)
        # big-endian 64-bit windows at every byte: an unaligned strided view, converted in one pass
        words = np.ndarray((len(data),), dtype=">u8", buffer=raw, strides=(1,)).astype(np.uint64)
        self._cache = (data, words)
        return words

    def _values(self, data: bytes, b0: int, positions: NDArray[np.int64], lut: _Lut) -> NDArray[np.int64]:
        """Decoded values of the codes starting at ``positions`` (bits from byte ``b0``)."""
        w = self._words(data)[b0 + (positions >> 3)] << (positions & 7).astype(np.uint64)
        idx = (w >> np.uint64(64 - lut.maxp)).astype(np.int64)
        plen = lut.plen[idx]
        ext = lut.extra[idx]
        vals: NDArray[np.int64] = lut.base[idx]
        has = ext > 0
        if np.any(has):
            sh = (w[has] << plen[has].astype(np.uint64)) >> (64 - ext[has]).astype(np.uint64)
            raw = sh.astype(np.int64)
            e = ext[has]
            vals[has] = np.where(raw >> (e - 1) != 0, raw - (np.int64(1) << e), raw)
        return vals

    def decode(self, data: bytes, start: int, nbytes: int, n_samples: int) -> tuple[NDArray[np.int64], int]:
        """Decode ``n_samples`` values from ``data[start:start+nbytes]``; returns the values and the number of
        bytes actually used. Raises :class:`FormatError` when the data end first or hold an undefined code."""
        if self.simple:
            return self._decode_simple(data, start, nbytes, n_samples)
        return self._decode_general(data, start, nbytes, n_samples)

    def decode_leads(self, data: bytes, start: int, counts: list[int], ns: list[int]) -> NDArray[np.int64] | None:
        """Decode the leads stored back to back from ``data[start]`` (lead ``k``: ``counts[k]`` bytes holding
        ``ns[k]`` values) in one pass over the section: column ``k`` of the result holds lead ``k``'s values in
        its first ``ns[k]`` rows (the rows after them are meaningless). Returns ``None`` when this path does not
        apply (table switching, section too large) or when a lead does not decode cleanly within its bytes; the
        caller then decodes lead by lead with :meth:`decode`, which gives the same values, or the precise error."""
        if not self.simple or not counts or len(counts) != len(ns):
            return None
        nbits = 8 * sum(counts)
        n_max = max(ns)
        if nbits == 0 or nbits > _BATCH_MAX_BITS or n_max == 0 or min(ns) < 0:
            return None
        lut = self.luts[0]
        # next code position for every bit (an undefined code jumps out of range); a code ending exactly at the
        # end of the data is kept (position nbits), past it one absorbing sink
        past = nbits + 1
        jump = np.empty(nbits + 2, np.intp)
        np.take(lut.jump_step, self._prefix_index(data, start, start + nbits // 8, lut.maxp), out=jump[:nbits],
                mode="clip")
        jump[:nbits] += np.arange(nbits, dtype=np.intp)
        np.minimum(jump, past, out=jump)
        jump[nbits:] = past
        n_leads = len(counts)
        ends = np.cumsum(np.asarray(counts, np.intp)) * 8  # end bit of each lead
        # pos[r, k]: start of code r of lead k (row n_max: end of the last code). Rows are filled in blocks by
        # pointer doubling: with ``jump`` moving ``by`` codes ahead, rows [f, f + by) = jump(rows [f - by, f)).
        pos = np.empty((n_max + 1, n_leads), np.intp)
        pos[0] = ends - np.asarray(counts, np.intp) * 8
        total = n_max + 1
        block = _batch_block(nbits, n_max, n_leads)
        filled = by = 1
        while filled < total:
            take = min(by, total - filled)
            src = filled - by
            jump.take(pos[src: src + take], out=pos[filled: filled + take], mode="clip")
            filled += take
            if by < block and filled < total:
                jump = jump.take(jump, mode="clip")
                by *= 2
        ns_arr = np.asarray(ns, np.intp)
        if np.any(pos[ns_arr, np.arange(n_leads)] > ends):
            return None  # a lead runs past its bytes or holds an undefined code: decode lead by lead
        starts = pos[:n_max]
        if np.any(ns_arr != n_max):  # rows past a shorter lead's end may hold the sinks
            starts = np.minimum(starts, nbits - 1)
        vals = self._values(data, start, starts.reshape(-1).astype(np.int64, copy=False), lut)
        return vals.reshape(starts.shape)

    def _decode_simple(self, data: bytes, start: int, nbytes: int, n: int) -> tuple[NDArray[np.int64], int]:
        lut = self.luts[0]
        total_bits = nbytes * 8
        out = np.empty(n, np.int64)
        k = 0
        p = 0  # bit position relative to start
        chunk0 = 0
        while k < n:
            if p >= total_bits:
                raise FormatError("SCP Huffman data end before the lead's last sample", field="samples",
                                  value=k, expected=f"{n} samples")
            chunk0 = p >> 3
            chunk1 = min(nbytes, chunk0 + _CHUNK_BYTES)
            base_bit = chunk0 * 8
            idx = self._prefix_index(data, start + chunk0, start + chunk1, lut.maxp)
            step = lut.step[idx]
            limit = (chunk1 - chunk0) * 8
            # next code position for every bit; two absorbing sinks: past the chunk, undefined code
            past, bad = limit, limit + 1
            jump = np.empty(limit + 2, np.int32)
            jump[:limit] = np.where(step > 0, np.minimum(np.arange(limit, dtype=np.int32) + step, past), bad)
            jump[past], jump[bad] = past, bad
            q0 = p - base_bit
            want = min(n - k, limit - q0)
            pos_arr = np.empty(want + 1, np.int32)
            pos_arr[0] = q0
            filled = 1
            total = want + 1
            # pointer doubling up to jumps of `block` codes, then whole blocks at a time
            block = 1
            while filled < total and block < 128:
                take = min(filled, total - filled)
                pos_arr[filled: filled + take] = jump[pos_arr[:take]]
                filled += take
                if filled < total:
                    jump = jump[jump]
                    block *= 2
            while filled < total:
                take = min(block, total - filled)
                pos_arr[filled: filled + take] = jump[pos_arr[filled - block: filled - block + take]]
                filled += take
            got = pos_arr[:want].astype(np.int64)
            stop = int(np.argmax(got >= past)) if got[-1] >= past else want
            if stop == want and pos_arr[want] == bad:
                stop_bad = True
            else:
                stop_bad = bool(np.any(got[:stop] == bad)) or (stop < want and got[stop] == bad)
            if stop_bad:
                raise FormatError("SCP Huffman data hold an undefined code", field="sample", value=k + stop)
            out[k: k + stop] = self._values(data, start + chunk0, got[:stop], lut)
            k += stop
            last = int(got[stop - 1])
            q = last + int(step[last])
            p = base_bit + q
            if chunk1 >= nbytes and k < n and q >= limit:
                raise FormatError("SCP Huffman data end before the lead's last sample", field="samples",
                                  value=k, expected=f"{n} samples")
        if p > total_bits:
            raise FormatError("SCP Huffman data end inside the lead's last code", field="bits", value=p,
                              expected=f"at most {total_bits}")
        return out, (p + 7) >> 3

    def _decode_general(self, data: bytes, start: int, nbytes: int, n: int) -> tuple[NDArray[np.int64], int]:
        total_bits = nbytes * 8
        out = np.empty(n, np.int64)
        luts = [(lut.maxp, lut.plen.tolist(), lut.extra.tolist(), lut.base.tolist(), lut.switch_to.tolist())
                for lut in self.luts]
        table = 0
        k = 0
        p = 0
        switches = 0
        while k < n:
            if p >= total_bits:
                raise FormatError("SCP Huffman data end before the lead's last sample", field="samples",
                                  value=k, expected=f"{n} samples")
            chunk0 = p >> 3
            chunk1 = min(nbytes, chunk0 + _CHUNK_BYTES)
            win = self._windows(data, start + chunk0, start + chunk1).tolist()
            base_bit = chunk0 * 8
            limit = (chunk1 - chunk0) * 8
            q = p - base_bit
            while k < n and q < limit:
                w = win[q]
                maxp, plen_l, extra_l, base_l, sw_l = luts[table]
                i = w >> (64 - maxp)
                plen = plen_l[i]
                if plen == 0:
                    raise FormatError("SCP Huffman data hold an undefined code", field="bit", value=base_bit + q)
                sw = sw_l[i]
                if sw >= 0:
                    table = sw
                    q += plen
                    switches += 1
                    if switches > 8 * nbytes + 8:
                        raise FormatError("SCP Huffman data switch tables without end", field="switches")
                    continue
                ext = extra_l[i]
                if ext:
                    raw = ((w << plen) & 0xFFFFFFFFFFFFFFFF) >> (64 - ext)
                    out[k] = raw - (1 << ext) if raw >> (ext - 1) else raw
                else:
                    out[k] = base_l[i]
                q += plen + ext
                k += 1
            p = base_bit + q
        if p > total_bits:
            raise FormatError("SCP Huffman data end inside the lead's last code", field="bits", value=p,
                              expected=f"at most {total_bits}")
        return out, (p + 7) >> 3
