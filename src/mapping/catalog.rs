//! The objects every collection with carriers serves: the extension-definition of the carrier and the
//! gateway's identity (its `created_by_ref`), so that no reference dangles. Data, in `mappings/stix/`.

use serde_json::Value;

/// The gateway's identity, creator of the carriers and of the shared standard objects. Frozen.
pub const GATEWAY_IDENTITY_ID: &str = "identity--9899e544-e0ab-4e31-8613-68f37b7d818a";

const EXTENSION_DEFINITION: &str = include_str!("../../mappings/stix/extension-definition.json");
const GATEWAY_IDENTITY: &str = include_str!("../../mappings/stix/identity.json");

/// The extension-definition and the gateway identity.
pub fn catalog() -> [Value; 2] {
    [EXTENSION_DEFINITION, GATEWAY_IDENTITY]
        .map(|text| serde_json::from_str(text).expect("shipped JSON is valid; a test checks it"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::CARRIER_EXTENSION_ID;

    #[test]
    fn the_catalog_is_valid_and_has_the_frozen_ids() {
        let [definition, identity] = catalog();
        assert_eq!(definition["id"], CARRIER_EXTENSION_ID);
        assert_eq!(definition["created_by_ref"], GATEWAY_IDENTITY_ID);
        assert_eq!(identity["id"], GATEWAY_IDENTITY_ID);
        for object in [definition, identity] {
            crate::stix::ObjectHeader::read(object.to_string().as_bytes()).unwrap();
        }
    }
}
