import NimbusDataplane
import NimbusWire

/// Prebuilt frames of one length laid end to end in one allocation, each with the port it enters on.
/// The timed loop only copies them into a batch, as a NIC's DMA would; building them is done before.
struct FramePool: ~Copyable {
    let base: UnsafeMutableRawPointer
    let ports: UnsafeMutablePointer<UInt16>
    let frameLength: Int
    let stride: Int
    let count: Int

    init(frameLength: Int, count: Int) {
        self.frameLength = frameLength
        stride = (frameLength + 63) & ~63
        self.count = count
        base = .allocate(byteCount: max(1, stride * count), alignment: 64)
        ports = .allocate(capacity: max(1, count))
        // Zeroed, so that the pool is resident from the start even where frames are written later.
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(1, stride * count))
        ports.initialize(repeating: 0, count: max(1, count))
    }

    deinit {
        base.deallocate()
        ports.deallocate()
    }

    /// Stores `frame` (exactly `frameLength` bytes) at `index`.
    func set(_ index: Int, _ frame: [UInt8], port: UInt16) {
        precondition(frame.count == frameLength, "frame of \(frame.count) bytes in a pool of \(frameLength)")
        frame.withUnsafeBytes { (base + index * stride).copyMemory(from: $0.baseAddress!, byteCount: frameLength) }
        ports[index] = port
    }

    @inline(__always)
    func frame(_ index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + index * stride, count: frameLength)
    }
}

/// The timed inner loop and its bookkeeping, shared by both phases.
enum Pump {
    /// Sends `batches` full batches from `pool`, starting at `cursor` and wrapping around, through
    /// `dataplane`; records each batch's time (copy in, process, reset) in `histogram`. Returns the
    /// elapsed nanoseconds. Nothing here allocates.
    @inline(never)
    static func run(_ dataplane: inout Dataplane, _ batch: inout PacketBatch, _ pool: borrowing FramePool,
                    cursor: inout Int, batches: Int, timestamp: inout UInt64,
                    histogram: inout LatencyRecorder) -> UInt64 {
        let n = pool.count
        var k = cursor
        let perBatch = PacketBatch.inputCapacity
        let start = BenchClock.now()
        var t0 = start
        for _ in 0..<batches {
            for _ in 0..<perBatch {
                _ = batch.append(pool.frame(k), timestamp: timestamp, port: pool.ports[k])
                k += 1
                if k == n { k = 0 }
            }
            dataplane.process(&batch)
            batch.reset()
            timestamp &+= BenchClock.batchInterval
            let t1 = BenchClock.now()
            histogram.record(t1 &- t0)
            t0 = t1
        }
        cursor = k
        return t0 &- start
    }

    /// Sends `count` frames of `pool` from `first` once (untimed set-up traffic, or one new-flows run),
    /// in batches. Returns the elapsed nanoseconds.
    @inline(never)
    static func once(_ dataplane: inout Dataplane, _ batch: inout PacketBatch, _ pool: borrowing FramePool,
                     first: Int = 0, count: Int, timestamp: inout UInt64, histogram: inout LatencyRecorder) -> UInt64 {
        var k = first
        let end = first + count
        let start = BenchClock.now()
        var t0 = start
        while k < end {
            let stop = min(end, k + PacketBatch.inputCapacity)
            while k < stop {
                _ = batch.append(pool.frame(k), timestamp: timestamp, port: pool.ports[k])
                k += 1
            }
            dataplane.process(&batch)
            batch.reset()
            timestamp &+= BenchClock.batchInterval
            let t1 = BenchClock.now()
            histogram.record(t1 &- t0)
            t0 = t1
        }
        return t0 &- start
    }
}
