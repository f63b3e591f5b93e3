//! Text output without allocation, for the replay and crash children.
//!
//! A replay child may not allocate (its heap must look exactly like that of a C program
//! that only made the replayed calls) and a signal handler may not either (`malloc` is
//! not async-signal-safe). So neither can use `format!`, `String` or stdio. What they
//! write is numbers and fixed words, which these helpers format by hand into fixed
//! buffers and send with `write(2)`:
//! - [`format_u64`]: decimal digits into a 20-byte stack array;
//! - [`Line`]: one short line on the stack (error reports, signal-handler output);
//! - [`Out`]: a large buffer (an anonymous mapping the caller provides) flushed to
//!   stdout whenever it fills up: the per-op CSV and the samples.
//!
//! Nothing here can panic: every copy is bounds-checked and what does not fit is
//! flushed (`Out`) or dropped (`Line`).

use crate::sys::{self, SysError};

/// Formats `n` in decimal into `buf`, returning the digits.
pub(crate) fn format_u64(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// A short line on the stack; what does not fit is dropped.
pub(crate) struct Line {
    buf: [u8; 256],
    len: usize,
}

impl Line {
    /// An empty line.
    pub(crate) fn new() -> Line {
        Line {
            buf: [0; 256],
            len: 0,
        }
    }

    /// Appends `bytes` (as much as fits).
    pub(crate) fn put(&mut self, bytes: &[u8]) {
        let room = self.buf.len() - self.len;
        let n = bytes.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    /// Appends `n` in decimal.
    pub(crate) fn num(&mut self, n: u64) {
        let mut tmp = [0; 20];
        self.put(format_u64(n, &mut tmp));
    }

    /// What the line holds so far.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Writes the line to file descriptor `fd` (async-signal-safe: one `write(2)` loop).
    pub(crate) fn send(&self, fd: i32) -> Result<(), SysError> {
        sys::write_all(fd, self.bytes())
    }
}

/// An output buffer flushed to stdout (file descriptor 1) when full.
pub(crate) struct Out<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Out<'a> {
    /// Buffers output in `buf` (an anonymous mapping, so it is not heap memory).
    pub(crate) fn new(buf: &'a mut [u8]) -> Out<'a> {
        Out { buf, len: 0 }
    }

    /// Writes out what is buffered.
    pub(crate) fn flush(&mut self) -> Result<(), SysError> {
        sys::write_all(1, &self.buf[..self.len])?;
        self.len = 0;
        Ok(())
    }

    /// Appends `bytes`, flushing first when they do not fit (and writing them directly
    /// when they are larger than the whole buffer).
    pub(crate) fn put(&mut self, bytes: &[u8]) -> Result<(), SysError> {
        if self.buf.len() - self.len < bytes.len() {
            self.flush()?;
        }
        if bytes.len() > self.buf.len() {
            return sys::write_all(1, bytes);
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
        Ok(())
    }

    /// Appends `n` in decimal.
    pub(crate) fn num(&mut self, n: u64) -> Result<(), SysError> {
        let mut tmp = [0; 20];
        self.put(format_u64(n, &mut tmp))
    }

    /// Bytes buffered and not yet flushed.
    #[cfg(test)]
    fn pending(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_in_decimal() {
        let mut b = [0; 20];
        assert_eq!(format_u64(0, &mut b), b"0");
        assert_eq!(format_u64(135168, &mut b), b"135168");
        assert_eq!(format_u64(u64::MAX, &mut b), b"18446744073709551615");
    }

    #[test]
    fn a_line_drops_what_does_not_fit() {
        let mut line = Line::new();
        line.put(b"op ");
        line.num(42);
        assert_eq!(line.bytes(), b"op 42");
        for _ in 0..100 {
            line.put(b"xyz");
        }
        assert_eq!(line.bytes().len(), 256);
    }

    #[test]
    fn out_buffers_until_full() {
        let mut buf = [0u8; 16];
        let mut out = Out::new(&mut buf);
        out.put(b"a,").unwrap();
        out.num(7).unwrap();
        assert_eq!(out.pending(), b"a,7");
    }
}
