"""A small Flask app whose users are mirrored in HubSpot by Etlify."""
