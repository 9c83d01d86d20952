import NimbusWire

/// Classify: parses each frame's Ethernet, ARP/IPv4/IPv6 and first L4 header once, and records the
/// offsets and protocol in the packet's metadata for the stages after it.
///
/// Reads: the frame. Writes: `etherType`, `l3Offset`, `l4Offset`, `ipProtocol`, `hasL4`; trims Ethernet
/// padding after an IPv4 datagram. Drops: `malformed-frame`, `unsupported-l2`, `unsupported-ethertype`,
/// `malformed-arp`, `malformed-ipv4` (incl. a bad header checksum), `malformed-ipv6`, `malformed-tcp`,
/// `malformed-udp`, `malformed-icmp`.
public struct ClassifyStage {
    public init() {}

    public mutating func process(_ batch: inout PacketBatch, _ ctx: inout StageContext) {
        for i in 0..<batch.count where batch.meta[i].verdict == .pending {
            let reason = classify(&batch, i)
            if reason != .none {
                batch.drop(i, reason)
                ctx.trace.record(i, .classify, .dropped, UInt32(reason.rawValue))
            } else {
                ctx.trace.record(i, .classify, .classified, UInt32(batch.meta[i].etherType),
                                 UInt32(batch.meta[i].ipProtocol))
            }
        }
    }

    @inline(__always)
    func classify(_ batch: inout PacketBatch, _ i: Int) -> DropReason {
        let frame = batch.bytes(i)
        let eth: EthernetFrame
        do { eth = try EthernetFrame(frame) } catch {
            return error == .stackedVLAN ? .unsupportedL2 : .malformedFrame
        }
        batch.meta[i].etherType = eth.etherType
        batch.meta[i].l3Offset = UInt16(eth.payloadOffset)
        switch eth.etherType {
        case EtherType.arp:
            do { _ = try ARPPacket(eth.payload) } catch { return .malformedARP }
            return .none
        case EtherType.ipv4:
            let ip: IPv4Header
            do { ip = try IPv4Header(eth.payload) } catch { return .malformedIPv4 }
            guard ip.isHeaderChecksumValid else { return .malformedIPv4 }
            // Ethernet pads short frames; the padding is not part of the datagram and never leaves.
            batch.setLength(i, eth.payloadOffset + ip.totalLength)
            batch.meta[i].ipProtocol = ip.protocol
            batch.meta[i].l4Offset = UInt16(eth.payloadOffset + ip.headerLength)
            // A fragment reaching past 65,535 bytes can never be reassembled (Linux drops it too).
            guard ip.fragmentOffset + ip.totalLength - ip.headerLength <= 65535 else { return .malformedIPv4 }
            guard ip.fragmentOffset == 0 else { return .none }
            batch.meta[i].hasL4 = true
            return checkL4(ip.protocol, ip.payload, wholeDatagram: !ip.moreFragments)
        case EtherType.ipv6:
            let ip: IPv6Header
            do { ip = try IPv6Header(eth.payload) } catch { return .malformedIPv6 }
            batch.setLength(i, eth.payloadOffset + IPv6Header.length + ip.payloadLength)
            batch.meta[i].ipProtocol = ip.upperProtocol
            batch.meta[i].l4Offset = UInt16(eth.payloadOffset + ip.upperOffset)
            return .none
        default:
            return .unsupportedEthertype
        }
    }

    /// The L4 header must be whole; a first fragment carries it but not the rest of the datagram, so a
    /// UDP length that covers later fragments is fine there.
    @inline(__always)
    private func checkL4(_ proto: UInt8, _ payload: RawBytes, wholeDatagram: Bool) -> DropReason {
        switch proto {
        case IPProtocol.tcp:
            do { _ = try TCPHeader(payload) } catch { return .malformedTCP }
        case IPProtocol.udp:
            if wholeDatagram {
                do { _ = try UDPHeader(payload) } catch { return .malformedUDP }
            } else if payload.count < UDPHeader.length {
                return .malformedUDP
            }
        case IPProtocol.icmp:
            do { _ = try ICMPHeader(payload) } catch { return .malformedICMP }
        default:
            break
        }
        return .none
    }
}
