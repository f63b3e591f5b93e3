//! Size classes: segregated storage with slab pages per class.
