/// A non-owning window onto packet bytes: a base pointer and a length.
///
/// This is the one place where the wire layer touches raw memory. Views (`IPv4Header`, `TCPHeader`, ...)
/// check their length once in a throwing initialiser; after that check every fixed-offset accessor they
/// expose is in bounds by construction, so the accessors here do not check again. Multi-byte fields are
/// big-endian (network order) and may be unaligned.
@frozen
public struct RawBytes: @unchecked Sendable {
    public let base: UnsafeMutableRawPointer
    public let count: Int

    @inlinable
    public init(base: UnsafeMutableRawPointer, count: Int) {
        self.base = base
        self.count = count
    }

    @inlinable
    public init(_ buffer: UnsafeMutableRawBufferPointer) {
        // An empty buffer may have a nil base; any non-null pointer is fine for zero bytes.
        self.base = buffer.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 0x10)!
        self.count = buffer.count
    }

    @inlinable public func u8(_ offset: Int) -> UInt8 {
        base.load(fromByteOffset: offset, as: UInt8.self)
    }
    @inlinable public func u16(_ offset: Int) -> UInt16 {
        UInt16(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
    @inlinable public func u32(_ offset: Int) -> UInt32 {
        UInt32(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    @inlinable public func setU8(_ offset: Int, _ value: UInt8) {
        base.storeBytes(of: value, toByteOffset: offset, as: UInt8.self)
    }
    @inlinable public func setU16(_ offset: Int, _ value: UInt16) {
        base.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt16.self)
    }
    @inlinable public func setU32(_ offset: Int, _ value: UInt32) {
        base.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
    }

    /// The bytes from `offset` to the end. The caller guarantees `offset <= count`.
    @inlinable public func suffix(from offset: Int) -> RawBytes {
        RawBytes(base: base + offset, count: count - offset)
    }

    /// The first `length` bytes. The caller guarantees `length <= count`.
    @inlinable public func prefix(_ length: Int) -> RawBytes {
        RawBytes(base: base, count: length)
    }

    /// A checked sub-window; nil when it would leave the bounds.
    @inlinable public func slice(_ offset: Int, _ length: Int) -> RawBytes? {
        guard offset >= 0, length >= 0, offset <= count, length <= count - offset else { return nil }
        return RawBytes(base: base + offset, count: length)
    }

    /// Copies the bytes out (tests and slow paths only).
    public var array: [UInt8] {
        Array(UnsafeRawBufferPointer(start: base, count: count))
    }
}
