//! Conformance: users and refresh-token families.

use liveshop_protocol::UserId;

use super::fixtures::{family, is_conflict, order, user};
use super::{join_all, ok, unique, user_id};
use crate::{
    OrderRecord, Orders, PutOrder, RefreshFamily, RefreshTokens, Rotation, UserRecord, Users,
};

// ---------------------------------------------------------------- users

pub async fn username_is_unique<S: Users + ?Sized>(store: &S) {
    let id = user_id(&unique("user"));
    let name = unique("name");
    let rec = user(&id, &name);
    ok("create user", store.create_user(&rec)).await;
    assert_eq!(ok("user", store.user(&id)).await, Some(rec.clone()));
    assert_eq!(
        ok("by name", store.user_by_name(&name)).await,
        Some(rec.clone())
    );

    // Same name, other id.
    let other_id = user_id(&unique("user"));
    let r = store.create_user(&user(&other_id, &name)).await;
    assert!(is_conflict(&r), "a taken username conflicts, got {r:?}");
    assert_eq!(
        ok("user", store.user(&other_id)).await,
        None,
        "nothing written"
    );

    // Same id, other name: refused, and the other name stays free.
    let other_name = unique("name");
    let r = store.create_user(&user(&id, &other_name)).await;
    assert!(is_conflict(&r), "a taken user id conflicts, got {r:?}");
    assert_eq!(ok("by name", store.user_by_name(&other_name)).await, None);
    assert_eq!(ok("user", store.user(&id)).await, Some(rec));

    assert_eq!(
        ok("unknown", store.user(&user_id(&unique("nobody")))).await,
        None
    );
    assert_eq!(
        ok("unknown", store.user_by_name(&unique("nobody"))).await,
        None
    );
}

pub async fn concurrent_creates_have_one_winner<S: Users + Orders + ?Sized>(store: &S) {
    const RACERS: usize = 12;
    let name = unique("racer");
    let ids: Vec<UserId> = (0..RACERS).map(|_| user_id(&unique("racer"))).collect();
    let recs: Vec<UserRecord> = ids.iter().map(|id| user(id, &name)).collect();
    let results = join_all(recs.iter().map(|r| store.create_user(r)).collect()).await;
    let winners: Vec<&UserRecord> = recs
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.is_ok())
        .map(|(rec, _)| rec)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one create wins: {results:?}");
    assert!(results.iter().filter(|r| r.is_err()).all(is_conflict));
    assert_eq!(
        ok("by name", store.user_by_name(&name)).await.as_ref(),
        Some(winners[0])
    );

    // Orders racing on one (buyer, idempotency key): one is created, the
    // others get it back.
    let buyer = user_id(&unique("rbuyer"));
    let seller = user_id(&unique("rseller"));
    let idem = unique("ridem");
    let orders: Vec<OrderRecord> = (0..RACERS)
        .map(|_| order(&unique("rorder"), &buyer, &seller, Some(&idem), 10))
        .collect();
    let results = join_all(orders.iter().map(|o| store.put_order(o)).collect()).await;
    let created: Vec<&OrderRecord> = orders
        .iter()
        .zip(&results)
        .filter(|(_, r)| matches!(r, Ok(PutOrder::Created)))
        .map(|(o, _)| o)
        .collect();
    assert_eq!(
        created.len(),
        1,
        "exactly one order is created: {results:?}"
    );
    for r in &results {
        match r {
            Ok(PutOrder::Created) => {}
            Ok(PutOrder::Existing(o)) => assert_eq!(o, created[0]),
            Err(e) => panic!("put_order failed: {e:?}"),
        }
    }
    assert_eq!(
        ok("by buyer", store.orders_by_buyer(&buyer)).await,
        vec![created[0].clone()]
    );
}

// ---------------------------------------------------------------- refresh tokens

pub async fn family_id_is_unique<S: RefreshTokens + ?Sized>(store: &S) {
    let id = unique("fam");
    let first = family(&id, "h1", 10_000);
    ok("create family", store.create_family(&first)).await;
    let r = store.create_family(&family(&id, "other", 20_000)).await;
    assert!(is_conflict(&r), "a taken family id conflicts, got {r:?}");
    assert_eq!(ok("family", store.family(&id)).await, Some(first));
    assert_eq!(ok("unknown", store.family(&unique("fam"))).await, None);
}

pub async fn refresh_rotation_detects_reuse_and_revokes_family<S: RefreshTokens + ?Sized>(
    store: &S,
) {
    let id = unique("fam");
    let fam = family(&id, "h1", 10_000);
    ok("create family", store.create_family(&fam)).await;

    let rotated = ok("rotate", store.rotate(&id, "h1", "h2", 20_000, 1_000)).await;
    let expected = RefreshFamily {
        current_hash: "h2".into(),
        expires_ms: 20_000,
        ..fam.clone()
    };
    assert_eq!(rotated, Rotation::Rotated(expected.clone()));
    assert_eq!(
        ok("family", store.family(&id)).await,
        Some(expected.clone())
    );

    // h1 was rotated away: presenting it again is reuse.
    let reused = ok("rotate", store.rotate(&id, "h1", "h3", 30_000, 2_000)).await;
    assert_eq!(reused, Rotation::Reused);
    let after = ok("family", store.family(&id)).await;
    assert_eq!(
        after,
        Some(RefreshFamily {
            revoked: true,
            ..expected
        }),
        "reuse revokes the family and changes nothing else"
    );
    // Even the newest token of a revoked family is refused.
    assert_eq!(
        ok("rotate", store.rotate(&id, "h2", "h4", 30_000, 2_000)).await,
        Rotation::Revoked
    );
    assert_eq!(
        ok(
            "rotate unknown",
            store.rotate(&unique("fam"), "h1", "h2", 30_000, 2_000)
        )
        .await,
        Rotation::Unknown
    );
}

pub async fn expired_family_does_not_rotate<S: RefreshTokens + ?Sized>(store: &S) {
    let id = unique("fam");
    let fam = family(&id, "h1", 5_000);
    ok("create family", store.create_family(&fam)).await;
    assert_eq!(
        ok(
            "rotate at expiry",
            store.rotate(&id, "h1", "h2", 9_000, 5_000)
        )
        .await,
        Rotation::Revoked
    );
    // An expired family is dead: a wrong token is not "reuse" and changes nothing.
    assert_eq!(
        ok(
            "rotate expired",
            store.rotate(&id, "zz", "h2", 9_000, 6_000)
        )
        .await,
        Rotation::Revoked
    );
    assert_eq!(ok("family", store.family(&id)).await, Some(fam));
    // Just before expiry it still rotates.
    assert!(matches!(
        ok("rotate live", store.rotate(&id, "h1", "h2", 9_000, 4_999)).await,
        Rotation::Rotated(_)
    ));
}

pub async fn revoked_family_does_not_rotate<S: RefreshTokens + ?Sized>(store: &S) {
    let id = unique("fam");
    ok(
        "create family",
        store.create_family(&family(&id, "h1", 10_000)),
    )
    .await;
    ok("revoke", store.revoke_family(&id)).await;
    ok("revoke again", store.revoke_family(&id)).await;
    assert_eq!(
        ok("rotate", store.rotate(&id, "h1", "h2", 20_000, 1_000)).await,
        Rotation::Revoked
    );
    let fam = ok("family", store.family(&id)).await;
    assert!(
        fam.as_ref()
            .is_some_and(|f| f.revoked && f.current_hash == "h1"),
        "{fam:?}"
    );
}

pub async fn concurrent_rotations_have_one_winner<S: RefreshTokens + ?Sized>(store: &S) {
    const RACERS: usize = 8;
    let id = unique("fam");
    ok(
        "create family",
        store.create_family(&family(&id, "h0", 10_000)),
    )
    .await;
    let nexts: Vec<String> = (0..RACERS).map(|i| format!("next{i}")).collect();
    let results = join_all(
        nexts
            .iter()
            .map(|n| store.rotate(&id, "h0", n, 20_000, 1_000))
            .collect(),
    )
    .await;
    let outcomes: Vec<Rotation> = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("rotate failed: {e:?}")))
        .collect();
    let rotated = outcomes
        .iter()
        .filter(|o| matches!(o, Rotation::Rotated(_)))
        .count();
    let reused = outcomes.iter().filter(|o| **o == Rotation::Reused).count();
    assert_eq!(rotated, 1, "one presenter rotates: {outcomes:?}");
    assert!(
        reused >= 1,
        "the next presenter of the same token is reuse: {outcomes:?}"
    );
    assert!(
        outcomes.iter().all(|o| matches!(
            o,
            Rotation::Rotated(_) | Rotation::Reused | Rotation::Revoked
        )),
        "{outcomes:?}"
    );
    let fam = ok("family", store.family(&id)).await;
    assert!(
        fam.is_some_and(|f| f.revoked),
        "the race revoked the family"
    );
}
