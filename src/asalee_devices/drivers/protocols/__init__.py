"""Pure protocol codecs (bytes in, frames out; no I/O) and the drivers that use them over a transport."""
