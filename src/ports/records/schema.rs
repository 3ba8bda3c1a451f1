// The tables of `migrations/sqlite` and `migrations/mysql`.

diesel::table! {
    collections (name) {
        name -> Text,
        model_name -> Text,
        model_version -> Text,
        dimension -> Integer,
        metric -> Text,
        threshold -> Nullable<Float>,
        created_at -> BigInt,
    }
}

diesel::table! {
    persons (id) {
        id -> Text,
        external_id -> Nullable<Text>,
        name -> Text,
        birthdate -> Text,
        country -> Text,
        city -> Text,
        title -> Text,
        org -> Text,
        attributes -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        collection -> Text,
    }
}

diesel::table! {
    faces (id) {
        id -> Text,
        person_id -> Text,
        embedding -> Binary,
        model_name -> Text,
        model_version -> Text,
        detection_score -> Float,
        box_x1 -> Float,
        box_y1 -> Float,
        box_x2 -> Float,
        box_y2 -> Float,
        landmarks -> Binary,
        image_sha256 -> Text,
        created_at -> BigInt,
        collection -> Text,
    }
}

diesel::joinable!(faces -> persons (person_id));
diesel::joinable!(persons -> collections (collection));
diesel::allow_tables_to_appear_in_same_query!(collections, persons, faces);
