//! CoMagic wire types (to be written).
