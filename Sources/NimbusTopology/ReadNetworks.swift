import NimbusDataplane
import NimbusWire
import Yams

extension TopologyReader {
    func readNetwork(_ node: Node, _ what: String) -> NetworkDraft? {
        let context = describe(node, as: "network")
        guard let map = MappingReader(
            node, what, context: context, allowed: ["name", "cidr", "mode", "subnets", "nat"], sink: sink)
        else { return nil }
        var network = NetworkDraft()
        network.name = sink.required(map, "name", in: context, parseName)
        network.cidr = sink.required(map, "cidr", in: context, parseIPv4CIDR)
        if let mode = sink.optional(map, "mode", { (s) throws(ValueError) in
            try parseChoice(s, kind: "mode", ["nat-private": NetworkMode.natPrivate, "public-ip": .publicIP])
        }) {
            network.mode = mode.value
        }
        network.subnets = requiredEntries(of: map, "subnets", in: context) { node, what in
            let context = describe(node, as: "subnet")
            guard let subnet = MappingReader(
                node, what, context: context, allowed: ["name", "cidr", "network-acl"], sink: sink)
            else { return nil }
            return SubnetDraft(
                name: sink.required(subnet, "name", in: context, parseName),
                cidr: sink.required(subnet, "cidr", in: context, parseIPv4CIDR),
                networkACL: sink.optional(subnet, "network-acl", parseName))
        }
        if let nat = map["nat"], let keyPosition = map.keyPosition("nat") {
            network.nat = readNAT(nat, keyPosition: keyPosition)
        }
        return network
    }

    func readNAT(_ node: Node, keyPosition: Position) -> NATDraft? {
        let context = "nat"
        guard let map = MappingReader(
            node, q("nat"), context: context, allowed: ["public-ips", "ports", "timeouts", "filtering"], sink: sink)
        else { return nil }
        var nat = NATDraft(keyPosition: keyPosition)
        if let ips = map.required("public-ips", in: context, sink: sink),
           let list = sink.listOfValues(ips, q("public-ips"), parseIPv4) {
            nat.publicIPs = list
            if case .sequence(let items) = ips, items.isEmpty {
                sink.error("'public-ips' must list at least one address", at: ips.position)
            }
        }
        nat.gateway.publicIPs = nat.publicIPs.map(\.value)
        if let ports = sink.optional(map, "ports", parsePortRange) { nat.gateway.ports = ports.value }
        if let filtering = sink.optional(map, "filtering", { (s) throws(ValueError) in
            try parseChoice(s, kind: "filtering", [
                "address-and-port-dependent": NATFiltering.addressAndPortDependent,
                "endpoint-independent": .endpointIndependent,
            ])
        }) {
            nat.gateway.filtering = filtering.value
        }
        if let timeouts = map["timeouts"] { nat.gateway.timeouts = readTimeouts(timeouts) }
        return nat
    }

    func readTimeouts(_ node: Node) -> NATTimeouts {
        var timeouts = NATTimeouts()
        let keys: [(String, WritableKeyPath<NATTimeouts, UInt64>)] = [
            ("tcp-established", \.tcpEstablished), ("tcp-transitory", \.tcpTransitory), ("udp", \.udp), ("icmp", \.icmp),
        ]
        guard let map = MappingReader(
            node, q("timeouts"), context: "timeouts", allowed: keys.map(\.0), sink: sink) else { return timeouts }
        for (key, path) in keys {
            if let value = sink.optional(map, key, parseTimeout) { timeouts[keyPath: path] = value.value }
        }
        return timeouts
    }
}

/// A duration that must not be zero: a zero timeout would expire state as soon as it is made.
func parseTimeout(_ text: String) throws(ValueError) -> UInt64 {
    let ns = try parseDuration(text)
    guard ns > 0 else { throw ValueError(kind: "timeout", detail: "must be longer than zero") }
    return ns
}
