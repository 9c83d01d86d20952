extension RawBytes {
    /// A window onto bytes the caller only reads (a frame handed over as `UnsafeRawBufferPointer`). The
    /// views' mutators must not be called on it.
    @inlinable
    public init(readOnly buffer: UnsafeRawBufferPointer) {
        self.init(UnsafeMutableRawBufferPointer(mutating: buffer))
    }
}

extension EthernetFrame {
    /// Wraps a frame the checked initialiser already accepted (a classify stage upstream): the tag is
    /// parsed again, but no length is checked.
    @inlinable
    public init(unchecked bytes: RawBytes) {
        self.bytes = bytes
        let outer = bytes.u16(12)
        if outer == EtherType.vlan || outer == EtherType.qinq {
            vlanID = bytes.u16(14) & 0x0FFF
            etherType = bytes.u16(16)
            payloadOffset = 18
        } else {
            vlanID = nil
            etherType = outer
            payloadOffset = EthernetFrame.headerLength
        }
    }

    /// The tag protocol identifier (`EtherType.vlan` or `EtherType.qinq`) of a tagged frame; nil untagged.
    @inlinable public var tagProtocolIdentifier: UInt16? { vlanID == nil ? nil : bytes.u16(12) }
}

extension ARPPacket {
    /// Wraps bytes already validated by the checked initialiser (a classify stage upstream).
    @inlinable public init(unchecked bytes: RawBytes) { self.bytes = bytes }
}
