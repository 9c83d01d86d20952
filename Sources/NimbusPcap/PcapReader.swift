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
    public let linkType: LinkType
    /// 1-based number of the last record read.
    public private(set) var recordNumber = 0
    private let handle: OpaquePointer

    public init(path: String) throws(CaptureError) {
        self.path = path
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let h = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errbuf) else {
            let msg = String(decoding: errbuf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw CaptureError("\(path): cannot read capture: \(msg)")
        }
        let dlt = pcap_datalink(h)
        guard let lt = LinkType(rawValue: dlt) else {
            pcap_close(h)
            let name = pcap_datalink_val_to_name(dlt).map { String(cString: $0) } ?? "\(dlt)"
            throw CaptureError("\(path): unsupported link type \(name) (\(dlt)); Nimbus reads Ethernet, raw IP, Linux cooked (SLL, SLL2) and loopback captures")
        }
        handle = h
        linkType = lt
    }

    deinit { pcap_close(handle) }

    /// The next record, or nil at the end of the file. A truncated or corrupt record throws an error that
    /// names the file and the record.
    public func next() throws(CaptureError) -> CaptureRecord? {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        let rc = pcap_next_ex(handle, &header, &data)
        switch rc {
        case 1:
            guard let hdr = header?.pointee else { return nil }
            recordNumber += 1
            let ts = UInt64(max(0, hdr.ts.tv_sec)) &* 1_000_000_000 &+ UInt64(max(0, hdr.ts.tv_usec))
            let bytes = UnsafeRawBufferPointer(start: data, count: Int(hdr.caplen))
            return CaptureRecord(timestamp: ts, bytes: bytes, originalLength: Int(hdr.len))
        case -2:
            return nil
        default:
            let msg = String(cString: pcap_geterr(handle))
            throw CaptureError("\(path): record \(recordNumber + 1): \(msg)")
        }
    }
}

/// One captured frame: capture time in nanoseconds and the captured bytes (libpcap's buffer).
public struct CaptureRecord {
    public let timestamp: UInt64
    public let bytes: UnsafeRawBufferPointer
    public let originalLength: Int
}
