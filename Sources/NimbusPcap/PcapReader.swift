import CPcap

/// A capture file could not be opened or read.
public struct CaptureError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Link-layer header types (the LINKTYPE_/DLT_ values libpcap reports) that Nimbus reads.
public enum LinkType: Int32, Sendable, CaseIterable {
    case null = 0           // BSD loopback: 4-byte address family in host order
    case ethernet = 1
    case raw = 12           // DLT_RAW on Linux; LINKTYPE_RAW (101) is mapped to it by libpcap
    case loop = 108         // OpenBSD loopback: 4-byte address family in network order
    case linuxSLL = 113
    case rawAlt = 101
    case ipv4 = 228
    case ipv6 = 229
    case linuxSLL2 = 276

    public var name: String {
        switch self {
        case .null: "null"
        case .ethernet: "ethernet"
        case .raw, .rawAlt: "raw"
        case .loop: "loop"
        case .linuxSLL: "linux-sll"
        case .ipv4: "ipv4"
        case .ipv6: "ipv6"
        case .linuxSLL2: "linux-sll2"
        }
    }
}

/// Reads pcap and pcapng files through libpcap, one record at a time, with nanosecond timestamps.
///
/// A reader owns a libpcap handle (one per file, so a class); the bytes of a record are libpcap's own
/// buffer, valid until the next call to `next()`.
public final class CaptureReader {
    public let path: String
    /// The link type of the file (of its first interface, for pcapng); each record carries its own.
    public let linkType: LinkType
    /// 1-based number of the last record read.
    public private(set) var recordNumber = 0
    private var handle: OpaquePointer?
    private var fallback: PcapngFallbackReader?
    /// The fallback reader's current record, kept where `CaptureRecord.bytes` can point at it.
    /// Nothing is allocated before `init` can fail (a failed init never reaches `deinit`).
    private var scratch = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    public init(path: String) throws(CaptureError) {
        self.path = path
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let h = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errbuf) else {
            let msg = String(decoding: errbuf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // libpcap refuses pcapng sections whose interfaces differ; those files are still valid.
            if msg.contains("interface"), let f = PcapngFallbackReader.open(path: path) {
                fallback = f
                linkType = .ethernet
                return
            }
            throw CaptureError("\(path): cannot read capture: \(msg)")
        }
        let dlt = pcap_datalink(h)
        guard let lt = LinkType(rawValue: dlt) else {
            pcap_close(h)
            throw CaptureError(Self.unsupported(path, dlt))
        }
        handle = h
        linkType = lt
    }

    private static func unsupported(_ path: String, _ dlt: Int32) -> String {
        let name = pcap_datalink_val_to_name(dlt).map { String(cString: $0) } ?? "\(dlt)"
        return "\(path): unsupported link type \(name) (\(dlt)); Nimbus reads Ethernet, raw IP, Linux cooked (SLL, SLL2) and loopback captures"
    }

    deinit {
        if let handle { pcap_close(handle) }
        scratch.deallocate()
    }

    /// The next record, or nil at the end of the file. A truncated or corrupt record throws an error that
    /// names the file and the record.
    public func next() throws(CaptureError) -> CaptureRecord? {
        if let fallback { return try nextFromFallback(fallback) }
        guard let handle else { return nil }
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        let rc = pcap_next_ex(handle, &header, &data)
        switch rc {
        case 1:
            guard let hdr = header?.pointee else { return nil }
            recordNumber += 1
            // A classic pcap record holds 32-bit seconds, which libpcap hands over signed: a negative value
            // is a time after 2038, read as unsigned. pcapng times come through whole.
            let seconds = hdr.ts.tv_sec < 0 ? UInt64(UInt32(truncatingIfNeeded: hdr.ts.tv_sec)) : UInt64(hdr.ts.tv_sec)
            let ts = seconds &* 1_000_000_000 &+ UInt64(max(0, hdr.ts.tv_usec))
            let bytes = UnsafeRawBufferPointer(start: data, count: Int(hdr.caplen))
            return CaptureRecord(timestamp: ts, bytes: bytes, originalLength: Int(hdr.len), linkType: linkType)
        case -2:
            return nil
        default:
            let msg = String(cString: pcap_geterr(handle))
            // A later interface that differs from the first: continue with our own pcapng reader from
            // the record libpcap stopped at.
            if msg.contains("interface"), let f = PcapngFallbackReader.open(path: path) {
                for _ in 0..<recordNumber { _ = try f.next() }
                pcap_close(handle)
                self.handle = nil
                fallback = f
                return try nextFromFallback(f)
            }
            throw CaptureError("\(path): record \(recordNumber + 1): \(msg)")
        }
    }
}

/// One captured frame: capture time in nanoseconds and the captured bytes (the reader's buffer, valid
/// until its next `next()`), with its link type.
public struct CaptureRecord {
    public let timestamp: UInt64
    public let bytes: UnsafeRawBufferPointer
    public let originalLength: Int
    /// The record's link type; nil for an interface link type Nimbus does not read.
    public let linkType: LinkType?
}

extension CaptureReader {
    fileprivate func nextFromFallback(_ f: PcapngFallbackReader) throws(CaptureError) -> CaptureRecord? {
        guard let (ts, dlt, bytes, origlen) = try f.next() else { return nil }
        recordNumber = f.recordNumber
        if scratch.count < bytes.count {
            scratch.deallocate()
            scratch = .allocate(byteCount: bytes.count, alignment: 16)
        }
        scratch.copyBytes(from: bytes)
        let buffer = UnsafeRawBufferPointer(rebasing: scratch[0..<bytes.count])
        return CaptureRecord(timestamp: ts, bytes: buffer, originalLength: origlen, linkType: LinkType(rawValue: dlt))
    }
}
