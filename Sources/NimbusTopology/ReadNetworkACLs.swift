import NimbusWire
import Yams

extension TopologyReader {
    func readNetworkACL(_ node: Node, _ what: String) -> NetworkACLDraft? {
        let context = describe(node, as: "network ACL")
        guard let map = MappingReader(
            node, what, context: context, allowed: ["name", "inbound", "outbound"], sink: sink) else { return nil }
        var acl = NetworkACLDraft()
        acl.name = sink.required(map, "name", in: context, parseName)
        // Both lists are required so that "deny everything this way" is written down, never implied.
        acl.inbound = requiredEntries(of: map, "inbound", in: context) { node, what in
            readACLRule(node, what, peerKey: "source")
        }
        acl.outbound = requiredEntries(of: map, "outbound", in: context) { node, what in
            readACLRule(node, what, peerKey: "destination")
        }
        return acl
    }

    /// `peerKey` is `source` for inbound rules and `destination` for outbound ones.
    func readACLRule(_ node: Node, _ what: String, peerKey: String) -> ACLRuleDraft? {
        let context = peerKey == "source" ? "inbound rule" : "outbound rule"
        guard let map = MappingReader(
            node, what, context: context, allowed: ["rule", "action"] + RuleMatch.keys + [peerKey], sink: sink)
        else { return nil }
        var draft = ACLRuleDraft()
        draft.number = sink.required(map, "rule", in: context) { (s) throws(ValueError) in
            try parseInteger(s, in: 1...NetworkACL.maxRuleNumber, kind: "rule number")
        }
        let action = sink.required(map, "action", in: context) { (s) throws(ValueError) in
            try parseChoice(s, kind: "action", ["allow": ACLAction.allow, "deny": .deny])
        }
        let match = readRuleMatch(map, in: context)

        var peer: IPCIDR?
        if let node = map.required(peerKey, in: context, sink: sink), let text = sink.scalar(node, q(peerKey)) {
            if text.hasPrefix("sg:") {
                sink.error(
                    "invalid CIDR '\(text)' for \(q(peerKey)): network ACLs take CIDRs only, not security groups",
                    at: node.position)
            } else {
                peer = sink.value(node, q(peerKey), parseIPCIDR)?.value
            }
        }

        if let number = draft.number, let action, let match, let peer {
            draft.rule = ACLRule(
                number: number.value, action: action.value, protocol: match.protocol, ports: match.ports,
                icmpType: match.icmpType, icmpCode: match.icmpCode, peer: peer)
        }
        return draft
    }
}
