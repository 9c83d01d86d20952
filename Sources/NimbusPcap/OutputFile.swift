#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file that is either written completely or not at all: bytes go to a hidden temporary file beside the
/// destination, buffered, and only `commit()` renames it into place. `discard()`, or dropping the object
/// uncommitted, removes the temporary file.
public final class AtomicOutputFile {
    public let path: String
    private let tempPath: String
    private var fd: Int32
    private let buffer: UnsafeMutableRawPointer
    /// Bytes buffered; touched per packet by the one thread writing the file.
    @exclusivity(unchecked) private var used = 0
    private static let bufferSize = 1 << 20

    public init(path: String) throws(CaptureError) {
        self.path = path
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[...$0]) } ?? ""
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        tempPath = "\(dir).\(base).tmp-\(getpid())"
        fd = open(tempPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CaptureError("\(path): cannot create: \(String(cString: strerror(errno)))")
        }
        buffer = .allocate(byteCount: AtomicOutputFile.bufferSize, alignment: 16)
    }

    deinit {
        discard()
        buffer.deallocate()
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(CaptureError) {
        guard let src = bytes.baseAddress, bytes.count > 0 else { return }
        if used + bytes.count > AtomicOutputFile.bufferSize { try flush() }
        if bytes.count > AtomicOutputFile.bufferSize {
            try writeAll(src, bytes.count)
            return
        }
        (buffer + used).copyMemory(from: src, byteCount: bytes.count)
        used += bytes.count
    }

    public func write(_ bytes: [UInt8]) throws(CaptureError) {
        if used + bytes.count > AtomicOutputFile.bufferSize { try flush() }
        if bytes.count > AtomicOutputFile.bufferSize {
            let copy = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 1)
            defer { copy.deallocate() }
            copy.copyMemory(from: bytes, byteCount: bytes.count)
            try writeAll(UnsafeRawPointer(copy), bytes.count)
            return
        }
        (buffer + used).copyMemory(from: bytes, byteCount: bytes.count)
        used += bytes.count
    }

    /// Four little-endian 32-bit words in one go (a pcap record header).
    public func writeRecordHeader(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: UInt32) throws(CaptureError) {
        if used + 16 > AtomicOutputFile.bufferSize { try flush() }
        let p = buffer + used
        p.storeBytes(of: a.littleEndian, toByteOffset: 0, as: UInt32.self)
        p.storeBytes(of: b.littleEndian, toByteOffset: 4, as: UInt32.self)
        p.storeBytes(of: c.littleEndian, toByteOffset: 8, as: UInt32.self)
        p.storeBytes(of: d.littleEndian, toByteOffset: 12, as: UInt32.self)
        used += 16
    }

    public func writeLE32(_ v: UInt32) throws(CaptureError) {
        if used + 4 > AtomicOutputFile.bufferSize { try flush() }
        buffer.storeBytes(of: v.littleEndian, toByteOffset: used, as: UInt32.self)
        used += 4
    }

    public func writeLE16(_ v: UInt16) throws(CaptureError) {
        if used + 2 > AtomicOutputFile.bufferSize { try flush() }
        buffer.storeBytes(of: v.littleEndian, toByteOffset: used, as: UInt16.self)
        used += 2
    }

    private func flush() throws(CaptureError) {
        try writeAll(UnsafeRawPointer(buffer), used)
        used = 0
    }

    private func writeAll(_ start: UnsafeRawPointer, _ count: Int) throws(CaptureError) {
        guard fd >= 0 else { throw CaptureError("\(path): already closed") }
        var done = 0
        while done < count {
            let n = Glibc.write(fd, start + done, count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let msg = n == 0 ? "no space" : String(cString: strerror(errno))
                throw CaptureError("\(path): write failed: \(msg)")
            }
            done += n
        }
    }

    /// Flushes, closes and renames the file into place.
    public func commit() throws(CaptureError) {
        do {
            try flush()
        } catch {
            discard()
            throw error
        }
        let rc = close(fd)
        fd = -1
        guard rc == 0 else {
            unlink(tempPath)
            throw CaptureError("\(path): write failed: \(String(cString: strerror(errno)))")
        }
        guard rename(tempPath, path) == 0 else {
            let msg = String(cString: strerror(errno))
            unlink(tempPath)
            throw CaptureError("\(path): cannot rename into place: \(msg)")
        }
    }

    /// Removes the temporary file; nothing appears at `path`.
    public func discard() {
        if fd >= 0 {
            close(fd)
            fd = -1
            unlink(tempPath)
        }
    }
}
