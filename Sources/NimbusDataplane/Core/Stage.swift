/// What every stage may use besides the batch: the capture-time clock, the seeded random source and the
/// trace log. One per worker; passed `inout`, never shared.
public struct StageContext: Sendable {
    /// Capture time of the batch's last packet, in nanoseconds.
    public var now: UInt64 = 0
    public var random: SeededRandom
    public var trace = TraceLog()
    /// Ended flows, when flow logging is on.
    public var flowLog = FlowLog()

    public init(seed: UInt64) {
        random = SeededRandom(seed: seed)
    }
}

/// A pipeline stage: reads and rewrites the packets of a batch that are still `.pending`, and decides
/// some of them (forward or drop). Stages are concrete structs owned by the pipeline, so every call is
/// statically dispatched; nothing is allocated per packet.
public protocol Stage: ~Copyable {
    mutating func process(_ batch: inout PacketBatch, _ ctx: inout StageContext)
}
