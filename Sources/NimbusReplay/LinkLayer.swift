import NimbusDataplane
import NimbusPcap
import NimbusWire

/// Turns a capture record of any supported link type into an Ethernet frame in a batch: the dataplane's
/// ports speak Ethernet only. Raw IP and loopback records get a synthesized header as if the port's peer
/// (the instance, or the upstream router) had sent them to the router MAC; Linux cooked headers (SLL,
/// SLL2) are replaced the same way, keeping their protocol type.
public struct LinkLayerAdapter: Sendable {
    public let sourceMAC: MACAddress
    public let routerMAC: MACAddress

    public init(sourceMAC: MACAddress, routerMAC: MACAddress) {
        self.sourceMAC = sourceMAC
        self.routerMAC = routerMAC
    }

    /// How many leading bytes of the record to drop, and the EtherType of what follows; nil when the
    /// record is Ethernet already. Throws the drop reason for records that cannot be adapted.
    func header(of record: UnsafeRawBufferPointer, linkType: LinkType) -> (skip: Int, etherType: UInt16)?? {
        func ipType(_ first: UInt8) -> UInt16? {
            switch first >> 4 {
            case 4: EtherType.ipv4
            case 6: EtherType.ipv6
            default: nil
            }
        }
        switch linkType {
        case .ethernet:
            return .some(nil)
        case .raw, .rawAlt:
            guard let first = record.first, let t = ipType(first) else { return nil }
            return (0, t)
        case .ipv4:
            return (0, EtherType.ipv4)
        case .ipv6:
            return (0, EtherType.ipv6)
        case .null, .loop:
            guard record.count >= 4 else { return nil }
            let raw = record.loadUnaligned(as: UInt32.self)
            // DLT_NULL stores the family in the capturing host's order; accept either.
            let family = linkType == .loop ? UInt32(bigEndian: raw)
                : (raw & 0xFFFF_0000 == 0 ? raw : raw.byteSwapped)
            switch family {
            case 2: return (4, EtherType.ipv4)
            case 24, 28, 30: return (4, EtherType.ipv6)
            default: return nil
            }
        case .linuxSLL:
            guard record.count >= 16 else { return nil }
            return (16, UInt16(record[14]) << 8 | UInt16(record[15]))
        case .linuxSLL2:
            guard record.count >= 20 else { return nil }
            return (20, UInt16(record[0]) << 8 | UInt16(record[1]))
        }
    }

    /// The IPv4 datagram of a record (from its header to the end of the record), when it carries IPv4
    /// (Ethernet with at most one VLAN tag, or any link type the adapter turns into Ethernet).
    static func ipv4Packet(of record: UnsafeRawBufferPointer, linkType: LinkType) -> UnsafeRawBufferPointer? {
        let adapter = LinkLayerAdapter(sourceMAC: MACAddress(value: 0), routerMAC: MACAddress(value: 0))
        guard let h = adapter.header(of: record, linkType: linkType) else { return nil }
        var at: Int
        if let h {
            guard h.etherType == EtherType.ipv4 else { return nil }
            at = h.skip
        } else {
            guard record.count >= 14 else { return nil }
            var type = UInt16(record[12]) << 8 | UInt16(record[13])
            at = 14
            if type == 0x8100, record.count >= 18 {
                type = UInt16(record[16]) << 8 | UInt16(record[17])
                at = 18
            }
            guard type == EtherType.ipv4 else { return nil }
        }
        guard record.count >= at + 20, record[at] >> 4 == 4 else { return nil }
        return UnsafeRawBufferPointer(rebasing: record[at...])
    }

    /// The IPv4 destination of a record, when it carries IPv4.
    static func ipv4Destination(of record: UnsafeRawBufferPointer, linkType: LinkType) -> IPv4Address? {
        guard let p = ipv4Packet(of: record, linkType: linkType) else { return nil }
        return IPv4Address(value: UInt32(p[16]) << 24 | UInt32(p[17]) << 16 | UInt32(p[18]) << 8 | UInt32(p[19]))
    }

    /// What became of a record offered to a batch.
    public enum Outcome: Equatable {
        case appended(Int)
        /// It cannot enter any batch (`unsupported-link-layer`, `frame-too-large`).
        case rejected(DropReason)
        /// This batch has no room left; offer it again to the next one.
        case batchFull
    }

    /// Appends the record to the batch as an Ethernet frame.
    public func append(_ record: UnsafeRawBufferPointer, linkType: LinkType?, timestamp: UInt64, port: UInt16,
                       to batch: inout PacketBatch) -> Outcome {
        guard let linkType, let h = header(of: record, linkType: linkType) else { return .rejected(.unsupportedLinkLayer) }
        let skip = h?.skip ?? 0
        let added = h == nil ? 0 : EthernetFrame.headerLength
        let length = record.count - skip + added
        guard length <= batch.maximumFrame else { return .rejected(.frameTooLarge) }
        guard batch.canAppend(length: length) else { return .batchFull }
        let i = batch.appendInput(length: length, timestamp: timestamp, port: port)
        let frame = batch.bytes(i)
        if let h {
            EthernetFrame.writeHeader(to: frame, destination: routerMAC, source: sourceMAC, etherType: h.etherType)
        }
        if record.count > skip, let src = record.baseAddress {
            (frame.base + added).copyMemory(from: src + skip, byteCount: record.count - skip)
        }
        return .appended(i)
    }
}
