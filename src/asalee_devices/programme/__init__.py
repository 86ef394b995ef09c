"""The ASALEE programme beyond the bedside: protocols, the consent register, the indicators store, the monthly
practice dashboard and the national evaluation export and aggregation."""
