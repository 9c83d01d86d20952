/// A 48-bit Ethernet MAC address, held in the low bits of a `UInt64`.
@frozen
public struct MACAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var value: UInt64

    @inlinable public init(value: UInt64) { self.value = value & 0xFFFF_FFFF_FFFF }

    public init(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8, _ b4: UInt8, _ b5: UInt8) {
        self.init(value: [b0, b1, b2, b3, b4, b5].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
    }

    /// Parses `aa:bb:cc:dd:ee:ff` (colons or dashes, hex digits in either case).
    public init?(_ text: some StringProtocol) {
        let parts = text.split(omittingEmptySubsequences: false) { $0 == ":" || $0 == "-" }
        guard parts.count == 6 else { return nil }
        var v: UInt64 = 0
        for p in parts {
            // UInt8(_:radix:) accepts a sign ("+a"); an address has hex digits only.
            guard p.count == 2, p.allSatisfy(\.isHexDigit), let byte = UInt8(p, radix: 16) else { return nil }
            v = v << 8 | UInt64(byte)
        }
        self.init(value: v)
    }

    public static let broadcast = MACAddress(value: 0xFFFF_FFFF_FFFF)
    public static let zero = MACAddress(value: 0)

    @inlinable public var isBroadcast: Bool { value == 0xFFFF_FFFF_FFFF }
    /// Group bit: the least significant bit of the first octet.
    @inlinable public var isMulticast: Bool { (value >> 40) & 1 == 1 }

    @inlinable public func write(to bytes: RawBytes, at offset: Int) {
        bytes.setU16(offset, UInt16(truncatingIfNeeded: value >> 32))
        bytes.setU32(offset + 2, UInt32(truncatingIfNeeded: value))
    }

    @inlinable public static func read(from bytes: RawBytes, at offset: Int) -> MACAddress {
        MACAddress(value: UInt64(bytes.u16(offset)) << 32 | UInt64(bytes.u32(offset + 2)))
    }

    public var description: String {
        (0..<6).map { i in
            let byte = UInt8(truncatingIfNeeded: value >> UInt64(40 - 8 * i))
            return (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }.joined(separator: ":")
    }

    public static func < (a: MACAddress, b: MACAddress) -> Bool { a.value < b.value }
}

/// An IPv4 address in host byte order.
@frozen
public struct IPv4Address: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var value: UInt32

    @inlinable public init(value: UInt32) { self.value = value }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Parses strict dotted-quad text: four decimal octets, no leading zeros (which some tools read as octal).
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }),
                  !(p.count > 1 && p.first == "0"), let octet = UInt8(p) else { return nil }
            v = v << 8 | UInt32(octet)
        }
        value = v
    }

    public static let any = IPv4Address(value: 0)
    public static let broadcast = IPv4Address(value: 0xFFFF_FFFF)

    @inlinable public var isMulticast: Bool { value >> 28 == 0xE }
    @inlinable public var isLimitedBroadcast: Bool { value == 0xFFFF_FFFF }
    @inlinable public var isLoopback: Bool { value >> 24 == 127 }

    /// RFC 1918 private ranges and RFC 6598 shared address space: addresses a cloud keeps behind NAT.
    public var isPrivate: Bool {
        value >> 24 == 10 || value >> 20 == 0xAC1 || value >> 16 == 0xC0A8 || value >> 22 == (100 << 2 | 1)
    }

    public var description: String {
        "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
    }

    public static func < (a: IPv4Address, b: IPv4Address) -> Bool { a.value < b.value }
}

/// An IPv6 address as two 64-bit halves in host order (`high` holds the first eight bytes).
@frozen
public struct IPv6Address: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    @inlinable public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Parses RFC 4291 text: eight groups, `::` for a run of zero groups, an optional trailing dotted quad.
    public init?(_ text: some StringProtocol) {
        let s = String(text)
        guard !s.isEmpty, s.count <= 45 else { return nil }
        var groups: [UInt16] = []
        var tailGroups: [UInt16] = []
        var halves = [s]
        if let r = s.firstRange(of: "::") {
            halves = [String(s[..<r.lowerBound]), String(s[r.upperBound...])]
            guard halves[1].firstRange(of: "::") == nil, !halves[1].hasPrefix(":"),
                  !halves[0].hasSuffix(":") else { return nil }
        }
        func parseGroups(_ part: String, allowV4: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            let items = part.split(separator: ":", omittingEmptySubsequences: false)
            for (i, item) in items.enumerated() {
                if allowV4 && i == items.count - 1 && item.contains(".") {
                    guard let v4 = IPv4Address(item) else { return nil }
                    out.append(UInt16(v4.value >> 16))
                    out.append(UInt16(v4.value & 0xFFFF))
                } else {
                    guard (1...4).contains(item.count), item.allSatisfy(\.isHexDigit),
                          let g = UInt16(item, radix: 16) else { return nil }
                    out.append(g)
                }
            }
            return out
        }
        if halves.count == 2 {
            guard let head = parseGroups(halves[0], allowV4: false),
                  let tail = parseGroups(halves[1], allowV4: true),
                  head.count + tail.count <= 7 else { return nil }
            groups = head
            tailGroups = tail
            groups += Array(repeating: 0, count: 8 - head.count - tail.count) + tailGroups
        } else {
            guard let all = parseGroups(halves[0], allowV4: true), all.count == 8 else { return nil }
            groups = all
        }
        var hi: UInt64 = 0, lo: UInt64 = 0
        for i in 0..<4 { hi = hi << 16 | UInt64(groups[i]) }
        for i in 4..<8 { lo = lo << 16 | UInt64(groups[i]) }
        high = hi
        low = lo
    }

    @inlinable public static func read(from bytes: RawBytes, at offset: Int) -> IPv6Address {
        let hi = UInt64(bytes.u32(offset)) << 32 | UInt64(bytes.u32(offset + 4))
        let lo = UInt64(bytes.u32(offset + 8)) << 32 | UInt64(bytes.u32(offset + 12))
        return IPv6Address(high: hi, low: lo)
    }

    @inlinable public func write(to bytes: RawBytes, at offset: Int) {
        bytes.setU32(offset, UInt32(truncatingIfNeeded: high >> 32))
        bytes.setU32(offset + 4, UInt32(truncatingIfNeeded: high))
        bytes.setU32(offset + 8, UInt32(truncatingIfNeeded: low >> 32))
        bytes.setU32(offset + 12, UInt32(truncatingIfNeeded: low))
    }

    var groups: [UInt16] {
        (0..<4).map { UInt16(truncatingIfNeeded: high >> UInt64(48 - 16 * $0)) }
            + (0..<4).map { UInt16(truncatingIfNeeded: low >> UInt64(48 - 16 * $0)) }
    }

    /// RFC 5952 canonical text: lower case, the longest run (two or more) of zero groups as `::`.
    public var description: String {
        let g = groups
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            if g[i] == 0 {
                var j = i
                while j < 8 && g[j] == 0 { j += 1 }
                if j - i > bestLen && j - i >= 2 { bestStart = i; bestLen = j - i }
                i = j
            } else { i += 1 }
        }
        func hex(_ r: ArraySlice<UInt16>) -> String { r.map { String($0, radix: 16) }.joined(separator: ":") }
        if bestStart < 0 { return hex(g[...]) }
        return hex(g[0..<bestStart]) + "::" + hex(g[(bestStart + bestLen)...])
    }

    public static func < (a: IPv6Address, b: IPv6Address) -> Bool { (a.high, a.low) < (b.high, b.low) }
}

/// An IPv4 prefix: a network address and a prefix length.
@frozen
public struct IPv4CIDR: Hashable, Sendable, CustomStringConvertible {
    public let network: IPv4Address
    public let prefixLength: Int

    /// Builds a prefix, clearing any host bits of `address`.
    public init(address: IPv4Address, prefixLength: Int) {
        precondition((0...32).contains(prefixLength), "prefix length out of range")
        self.prefixLength = prefixLength
        self.network = IPv4Address(value: address.value & IPv4CIDR.mask(prefixLength))
    }

    /// Parses `a.b.c.d/n`. With `strict`, host bits must be zero (the usual rule for a network's CIDR).
    /// A bare address is a /32.
    public init?(_ text: some StringProtocol, strict: Bool = true) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let addr = IPv4Address(parts[0]) else { return nil }
        var len = 32
        if parts.count == 2 {
            guard parts[1].count <= 2, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                  let l = Int(parts[1]), (0...32).contains(l) else { return nil }
            len = l
        }
        if strict && addr.value & ~IPv4CIDR.mask(len) != 0 { return nil }
        self.init(address: addr, prefixLength: len)
    }

    @inlinable public static func mask(_ length: Int) -> UInt32 {
        length == 0 ? 0 : UInt32.max << UInt32(32 - length)
    }

    @inlinable public var mask: UInt32 { IPv4CIDR.mask(prefixLength) }

    @inlinable public func contains(_ address: IPv4Address) -> Bool {
        address.value & mask == network.value
    }

    public func overlaps(_ other: IPv4CIDR) -> Bool {
        contains(other.network) || other.contains(network)
    }

    /// True when every address of `other` is inside this prefix.
    public func covers(_ other: IPv4CIDR) -> Bool {
        other.prefixLength >= prefixLength && contains(other.network)
    }

    /// The first usable host (network + 1); the gateway of a subnet.
    public var firstHost: IPv4Address { IPv4Address(value: network.value &+ 1) }
    /// The highest address of the prefix (the directed broadcast for a subnet).
    public var lastAddress: IPv4Address { IPv4Address(value: network.value | ~mask) }

    public var description: String { "\(network)/\(prefixLength)" }
}

/// An IPv6 prefix.
@frozen
public struct IPv6CIDR: Hashable, Sendable, CustomStringConvertible {
    public let network: IPv6Address
    public let prefixLength: Int

    public init(address: IPv6Address, prefixLength: Int) {
        precondition((0...128).contains(prefixLength), "prefix length out of range")
        self.prefixLength = prefixLength
        let (mh, ml) = IPv6CIDR.mask(prefixLength)
        network = IPv6Address(high: address.high & mh, low: address.low & ml)
    }

    public init?(_ text: some StringProtocol, strict: Bool = true) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let addr = IPv6Address(parts[0]) else { return nil }
        var len = 128
        if parts.count == 2 {
            guard parts[1].count <= 3, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                  let l = Int(parts[1]), (0...128).contains(l) else { return nil }
            len = l
        }
        let (mh, ml) = IPv6CIDR.mask(len)
        if strict && (addr.high & ~mh != 0 || addr.low & ~ml != 0) { return nil }
        self.init(address: addr, prefixLength: len)
    }

    public static func mask(_ length: Int) -> (UInt64, UInt64) {
        if length == 0 { return (0, 0) }
        if length <= 64 { return (UInt64.max << UInt64(64 - length), 0) }
        if length == 128 { return (UInt64.max, UInt64.max) }
        return (UInt64.max, UInt64.max << UInt64(128 - length))
    }

    public func contains(_ a: IPv6Address) -> Bool {
        let (mh, ml) = IPv6CIDR.mask(prefixLength)
        return a.high & mh == network.high && a.low & ml == network.low
    }

    public func overlaps(_ other: IPv6CIDR) -> Bool { contains(other.network) || other.contains(network) }

    public var description: String { "\(network)/\(prefixLength)" }
}

/// An IPv4 or IPv6 prefix, as security-group rules and allowed-ips take them.
public enum IPCIDR: Hashable, Sendable, CustomStringConvertible {
    case v4(IPv4CIDR)
    case v6(IPv6CIDR)

    public init?(_ text: some StringProtocol, strict: Bool = true) {
        if text.contains(":") {
            guard let c = IPv6CIDR(text, strict: strict) else { return nil }
            self = .v6(c)
        } else {
            guard let c = IPv4CIDR(text, strict: strict) else { return nil }
            self = .v4(c)
        }
    }

    public var description: String {
        switch self {
        case .v4(let c): c.description
        case .v6(let c): c.description
        }
    }
}
