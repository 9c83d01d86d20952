// RawBytes: big-endian unaligned loads and stores, prefix/suffix, the checked slice, and empty buffers.
import NimbusWire
import Testing

@Test func loadsAndStoresAreBigEndianAndUnaligned() {
    withPacket(hex("00 11 22 33 44 55 66 77 88")) { raw in
        #expect(raw.count == 9)
        #expect(raw.u8(0) == 0x00 && raw.u8(8) == 0x88)
        #expect(raw.u16(1) == 0x1122)
        #expect(raw.u16(7) == 0x7788)
        #expect(raw.u32(1) == 0x1122_3344)
        #expect(raw.u32(5) == 0x5566_7788)
        raw.setU16(3, 0xABCD)
        raw.setU32(5, 0xDEAD_BEEF)
        raw.setU8(0, 0xFE)
        #expect(raw.array == hex("fe 11 22 ab cd de ad be ef"))
    }
}

@Test func prefixSuffixAndSlice() {
    withPacket(Array(0..<10)) { raw in
        #expect(raw.prefix(3).array == [0, 1, 2])
        #expect(raw.suffix(from: 7).array == [7, 8, 9])
        #expect(raw.suffix(from: 10).count == 0)
        #expect(raw.prefix(0).array == [])
        #expect(raw.slice(2, 3)?.array == [2, 3, 4])
        #expect(raw.slice(0, 10)?.count == 10)
        #expect(raw.slice(10, 0)?.count == 0)
        #expect(raw.slice(10, 1) == nil)
        #expect(raw.slice(9, 2) == nil)
        #expect(raw.slice(11, 0) == nil)
        #expect(raw.slice(-1, 1) == nil)
        #expect(raw.slice(0, -1) == nil)
        #expect(raw.slice(1, Int.max) == nil, "no overflow in the bounds check")
        #expect(raw.slice(Int.max, 1) == nil)
        // A slice is a window onto the same memory.
        raw.slice(4, 2)?.setU16(0, 0xAAAA)
        #expect(raw.u16(4) == 0xAAAA)
    }
}

@Test func emptyBuffers() {
    var empty: [UInt8] = []
    empty.withUnsafeMutableBytes { b in
        let raw = RawBytes(b)
        #expect(raw.count == 0)
        #expect(raw.array == [])
        #expect(raw.slice(0, 0)?.count == 0)
        #expect(InternetChecksum.partialSum(raw) == 0)
    }
    let none = RawBytes(UnsafeMutableRawBufferPointer(start: nil, count: 0))
    #expect(none.count == 0 && none.array.isEmpty)
}
