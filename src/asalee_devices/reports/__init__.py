"""PDF reports the GP reads: the 12-lead ECG on its millimetre grid, and the spirometry report."""
