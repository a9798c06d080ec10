//! Layer tar streams: safe unpacking (with whiteout conversion) and writing diffs.
//! (Skeleton: filled in by the drivers work.)
