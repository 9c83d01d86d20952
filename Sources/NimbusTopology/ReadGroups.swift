import NimbusWire
import Yams

extension TopologyReader {
    func readGroup(_ node: Node, _ what: String) -> GroupDraft? {
        let context = describe(node, as: "security group")
        guard let map = MappingReader(
            node, what, context: context, allowed: ["name", "ingress", "egress"], sink: sink) else { return nil }
        var group = GroupDraft()
        group.name = sink.required(map, "name", in: context, parseName)
        group.ingress = requiredEntries(of: map, "ingress", in: context) { node, what in
            readRule(node, what, peerKey: "source")
        }
        if let egress = map["egress"], egress.isNull {
            // Omitted means allow all and [] deny all; an empty value could be either.
            sink.error("'egress' has no value; omit it to allow all egress, or write [] to deny all", at: egress.position)
        } else if map["egress"] != nil {
            group.egress = entries(of: map, "egress") { node, what in readRule(node, what, peerKey: "destination") }
        }
        return group
    }

    /// `peerKey` is `source` for ingress and `destination` for egress.
    func readRule(_ node: Node, _ what: String, peerKey: String) -> RuleDraft? {
        let context = peerKey == "source" ? "ingress rule" : "egress rule"
        guard let map = MappingReader(
            node, what, context: context, allowed: RuleMatch.keys + [peerKey], sink: sink) else { return nil }
        var draft = RuleDraft()
        let match = readRuleMatch(map, in: context)

        var peer: RulePeer?
        if let node = map.required(peerKey, in: context, sink: sink), let text = sink.scalar(node, q(peerKey)) {
            if text.hasPrefix("sg:") {
                if let name = sink.value(node, "\(q(peerKey)) group", { (s) throws(ValueError) in
                    try parseName(String(s.dropFirst(3)))
                }) {
                    peer = .group(name.value)
                    draft.groupReference = name
                }
            } else {
                peer = sink.value(node, q(peerKey), parseIPCIDR).map { .cidr($0.value) }
            }
        }

        if let match, let peer {
            draft.rule = SecurityRule(
                protocol: match.protocol, ports: match.ports, icmpType: match.icmpType, icmpCode: match.icmpCode,
                peer: peer)
        }
        return draft
    }

    /// The traffic-matching keys shared by security-group and network-ACL rules: `protocol`, `ports`,
    /// `icmp-type` and `icmp-code`, with the checks that tie ports and ICMP fields to the protocol.
    /// Nil when any of them was missing or invalid (already reported).
    func readRuleMatch(_ map: MappingReader, in context: String) -> RuleMatch? {
        var valid = true
        let proto = sink.required(map, "protocol", in: context, parseRuleProtocol)
        if proto == nil { valid = false }

        var ports: [ClosedRange<UInt16>] = []
        if let node = map["ports"] {
            if let p = proto?.value, p != .tcp, p != .udp {
                sink.error("'ports' applies only to tcp and udp rules, not \(p)", at: map.keyPosition("ports"))
                valid = false
            } else if let parsed = sink.ports(node, q("ports")) {
                ports = parsed
            } else {
                valid = false
            }
        }

        var icmp: [String: UInt8] = [:]
        for key in ["icmp-type", "icmp-code"] {
            guard let node = map[key] else { continue }
            if let p = proto?.value, p != .icmp, p != .icmpv6 {
                sink.error("\(q(key)) applies only to icmp and icmpv6 rules, not \(p)", at: map.keyPosition(key))
                valid = false
            } else if let value = sink.value(node, q(key), { (s) throws(ValueError) in
                UInt8(try parseInteger(s, in: 0...255, kind: key))
            }) {
                icmp[key] = value.value
            } else {
                valid = false
            }
        }
        if map["icmp-code"] != nil, map["icmp-type"] == nil {
            sink.error("'icmp-code' needs an 'icmp-type'", at: map.keyPosition("icmp-code"))
            valid = false
        }

        guard valid, let proto else { return nil }
        return RuleMatch(protocol: proto.value, ports: ports, icmpType: icmp["icmp-type"], icmpCode: icmp["icmp-code"])
    }

    func readInstance(_ node: Node, _ what: String) -> InstanceDraft? {
        let context = describe(node, as: "instance")
        guard let map = MappingReader(
            node, what, context: context,
            allowed: ["name", "network", "subnet", "ip", "mac", "public-ip", "security-groups"], sink: sink)
        else { return nil }
        var instance = InstanceDraft(position: map.position)
        instance.name = sink.required(map, "name", in: context, parseName)
        if let name = instance.name, name.value == "internet" {
            sink.error("'internet' is the uplink port's name; choose another instance name", at: name.position)
            instance.name = nil
        }
        instance.network = sink.required(map, "network", in: context, parseName)
        instance.subnet = sink.required(map, "subnet", in: context, parseName)
        instance.ip = sink.required(map, "ip", in: context, parseIPv4)
        instance.mac = sink.optional(map, "mac", parseMAC)
        instance.publicIP = sink.optional(map, "public-ip", parseIPv4)
        instance.publicIPKey = map.keyPosition("public-ip")
        if let groups = map["security-groups"] {
            instance.groups = sink.listOfValues(groups, q("security-groups"), parseName)
        }
        return instance
    }
}

/// What a rule matches besides its peer; see `TopologyReader.readRuleMatch`.
struct RuleMatch {
    /// The keys `readRuleMatch` reads, in the order unknown-key messages list them.
    static let keys = ["protocol", "ports", "icmp-type", "icmp-code"]

    var `protocol`: RuleProtocol
    var ports: [ClosedRange<UInt16>]
    var icmpType: UInt8?
    var icmpCode: UInt8?
}
