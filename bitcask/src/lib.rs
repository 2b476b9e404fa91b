//! bitcask (in progress)
