#if canImport(Glibc)
import Glibc
#endif

/// A small pcapng reader for the files libpcap refuses: libpcap (1.10) reads a pcapng section only when
/// all its interfaces share one link type and snapshot length, but Wireshark and other tools write files
/// whose interfaces differ. Those captures are still valid, so Nimbus reads them itself, record by record,
/// each with its own interface's link type and timestamp resolution.
final class PcapngFallbackReader {
    private struct Interface {
        var linkType: Int32
        /// Timestamp units per second (if_tsresol).
        var unitsPerSecond: UInt64
        /// Seconds to add to every timestamp (if_tsoffset).
        var offsetSeconds: Int64 = 0
    }

    let path: String
    private let data: [UInt8]
    private var offset = 0
    private var bigEndian = false
    private var interfaces: [Interface] = []
    private(set) var recordNumber = 0
    private var packet: [UInt8] = []

    /// The file's bytes, when it starts with a pcapng section header; nil otherwise.
    static func open(path: String) -> PcapngFallbackReader? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n <= 0 { break }
            bytes += chunk[0..<n]
            if bytes.count > 1 << 30 { return nil }
        }
        guard bytes.count >= 12, bytes[0] == 0x0A, bytes[1] == 0x0D, bytes[2] == 0x0D, bytes[3] == 0x0A else { return nil }
        return PcapngFallbackReader(path: path, data: bytes)
    }

    private init(path: String, data: [UInt8]) {
        self.path = path
        self.data = data
    }

    private func u16(_ o: Int) -> UInt16 {
        let v = UInt16(data[o]) | UInt16(data[o + 1]) << 8
        return bigEndian ? v.byteSwapped : v
    }

    private func u32(_ o: Int) -> UInt32 {
        let v = UInt32(data[o]) | UInt32(data[o + 1]) << 8 | UInt32(data[o + 2]) << 16 | UInt32(data[o + 3]) << 24
        return bigEndian ? v.byteSwapped : v
    }

    /// The link type of the first interface (what the file "is", for messages and adapters).
    var firstLinkType: Int32? { interfaces.first?.linkType }

    private func fail(_ why: String) -> CaptureError {
        CaptureError("\(path): record \(recordNumber + 1): \(why)")
    }

    /// The next packet as (timestamp ns, link type, bytes), or nil at the end.
    func next() throws(CaptureError) -> (UInt64, Int32, [UInt8], Int)? {
        while offset < data.count {
            guard offset + 12 <= data.count else { throw fail("truncated block header") }
            let type = UInt32(data[offset]) | UInt32(data[offset + 1]) << 8 | UInt32(data[offset + 2]) << 16
                | UInt32(data[offset + 3]) << 24
            if type == 0x0A0D_0D0A {
                // Section header: the byte-order magic decides the endianness of everything after it.
                let magic = UInt32(data[offset + 8]) | UInt32(data[offset + 9]) << 8 | UInt32(data[offset + 10]) << 16
                    | UInt32(data[offset + 11]) << 24
                if magic == 0x1A2B_3C4D { bigEndian = false } else if magic == 0x4D3C_2B1A { bigEndian = true } else {
                    throw fail("bad byte-order magic")
                }
                interfaces.removeAll()
            }
            let length = Int(u32(offset + 4))
            guard length >= 12, length % 4 == 0, offset + length <= data.count else { throw fail("bad block length \(length)") }
            let body = offset + 8
            let bodyEnd = offset + length - 4
            defer { offset += length }
            switch u32(offset) {
            case 1:  // interface description
                guard bodyEnd - body >= 8 else { throw fail("short interface block") }
                var iface = Interface(linkType: Int32(u16(body)), unitsPerSecond: 1_000_000, offsetSeconds: 0)
                var o = body + 8
                while o + 4 <= bodyEnd {
                    let code = u16(o), len = Int(u16(o + 2))
                    if code == 0 { break }
                    guard o + 4 + len <= bodyEnd else { break }
                    if code == 14 && len >= 8 {
                        let lo = UInt64(u32(o + 4)), hi = UInt64(u32(o + 8))
                        iface.offsetSeconds = Int64(bitPattern: bigEndian ? lo << 32 | hi : hi << 32 | lo)
                    }
                    if code == 9 && len >= 1 {
                        let v = data[o + 4]
                        let exp = UInt64(v & 0x7F)
                        if v & 0x80 == 0 {
                            guard exp <= 18 else { throw fail("timestamp resolution out of range") }
                            var u: UInt64 = 1
                            for _ in 0..<exp { u *= 10 }
                            iface.unitsPerSecond = u
                        } else {
                            guard exp <= 63 else { throw fail("timestamp resolution out of range") }
                            iface.unitsPerSecond = 1 << exp
                        }
                    }
                    o += 4 + ((len + 3) & ~3)
                }
                interfaces.append(iface)
            case 6, 2:  // enhanced packet block; obsolete packet block
                let enhanced = u32(offset) == 6
                guard bodyEnd - body >= 20 else { throw fail("short packet block") }
                let ifIndex = Int(enhanced ? u32(body) : UInt32(u16(body)))
                guard ifIndex < interfaces.count else { throw fail("packet for undeclared interface \(ifIndex)") }
                let ts = UInt64(u32(body + 4)) << 32 | UInt64(u32(body + 8))
                let caplen = Int(u32(body + 12)), origlen = Int(u32(body + 16))
                guard caplen <= bodyEnd - body - 20 else { throw fail("captured length \(caplen) beyond its block") }
                recordNumber += 1
                let iface = interfaces[ifIndex]
                // units -> ns without overflow for any resolution (picoseconds need 128-bit intermediates).
                let ups = iface.unitsPerSecond
                let frac = (ts % ups).multipliedFullWidth(by: 1_000_000_000)
                let fracNs = ups.dividingFullWidth((frac.high, frac.low)).quotient
                var ns = (ts / ups) &* 1_000_000_000 &+ fracNs
                ns = UInt64(bitPattern: Int64(bitPattern: ns) &+ iface.offsetSeconds &* 1_000_000_000)
                return (ns, iface.linkType, Array(data[(body + 20)..<(body + 20 + caplen)]), origlen)
            case 3:  // simple packet block: no timestamp, interface 0
                guard let iface = interfaces.first, bodyEnd - body >= 4 else { throw fail("simple packet without interface") }
                let origlen = Int(u32(body))
                let caplen = min(origlen, bodyEnd - body - 4)
                recordNumber += 1
                _ = iface
                return (0, interfaces[0].linkType, Array(data[(body + 4)..<(body + 4 + caplen)]), origlen)
            default:
                continue
            }
        }
        return nil
    }
}
