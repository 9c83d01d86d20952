/// What every stage may use besides the batch: the capture-time clock, the trace log and the flow log.
/// One per worker; passed `inout`, never shared. (Stages that need randomness keep a generator seeded
/// from the dataplane's seed, so each draws the same sequence whatever the others do.)
public struct StageContext: Sendable {
    /// Capture time of the batch's last packet, in nanoseconds.
    public var now: UInt64 = 0
    public var trace = TraceLog()
    /// Ended flows, when flow logging is on.
    public var flowLog = FlowLog()

    public init() {}
}
