//! ECS identifiers in AWS's shapes: 32-hex task ids (the new task-id format), `ecs-svc/<19
//! digits>` deployment ids, UUIDs for containers, attachments and events.

use rand::Rng;

fn hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// A task id: 32 lowercase hex digits.
pub fn task_id() -> String {
    hex(16)
}

/// A UUID (version 4 shape).
pub fn uuid() -> String {
    let h = hex(16);
    format!(
        "{}-{}-4{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A deployment id: `ecs-svc/` and 19 digits.
pub fn deployment_id() -> String {
    let mut rng = rand::rng();
    let digits: String = (0..19)
        .map(|i| {
            let d: u8 = if i == 0 {
                rng.random_range(1..10)
            } else {
                rng.random_range(0..10)
            };
            char::from(b'0' + d)
        })
        .collect();
    format!("ecs-svc/{digits}")
}

/// The label value that marks this server's containers and networks.
pub fn owner_id() -> String {
    hex(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_aws_shapes() {
        let task = task_id();
        assert_eq!(task.len(), 32);
        assert!(
            task.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let deployment = deployment_id();
        let digits = deployment.strip_prefix("ecs-svc/").unwrap();
        assert_eq!(digits.len(), 19);
        assert!(digits.bytes().all(|b| b.is_ascii_digit()));
        let uuid = uuid();
        assert_eq!(uuid.len(), 36);
        assert_eq!(uuid.as_bytes()[14], b'4');
        assert_ne!(task_id(), task_id());
    }
}
